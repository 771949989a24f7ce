/**
 * Helpers for the chaos suite (`npm run chaos`, vitest.chaos.config.ts): a node as a
 * child process on a config of its own, a retrying client that remembers what got a
 * 250, and the figures each scenario writes to test-artifacts/chaos/<scenario>.json
 * (docs/RELIABILITY.md quotes them).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCli, ROOT, type CliNode } from '../../support/gateway.js';
import { RawSmtp } from '../../support/smtp-client.js';
import type { TestMx } from '../../support/test-mx.js';

/** How many messages the ingest scenarios send (CHAOS_MESSAGES, default 20 000). */
export const MESSAGES = Number(process.env['CHAOS_MESSAGES'] ?? 20_000);

export function figures(scenario: string, data: Record<string, unknown>): void {
  const dir = join(ROOT, 'test-artifacts/chaos');
  mkdirSync(dir, { recursive: true });
  const out = { scenario, at: new Date().toISOString(), messages: MESSAGES, ...data };
  writeFileSync(join(dir, `${scenario}.json`), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`chaos ${scenario}: ${JSON.stringify(data)}`);
}

/** The TOML of a relay node on `port` whose every domain goes to `mx` (host:port). */
export function nodeConfig(dataDir: string, port: number, mx: string, extra = ''): string {
  return `[node]
data_dir = "${dataDir}"
hostname = "chaos.sluice.test"
${extra}
[[listen]]
host = "127.0.0.1"
port = ${port}
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "${mx}"
[delivery]
connect_timeout = "1s"
[queue]
retry = ["1s"]
`;
}

export function startNode(dir: string, toml: string, name = 'sluice.toml'): CliNode {
  const file = join(dir, name);
  writeFileSync(file, toml);
  return startCli(file);
}

export async function kill9(node: CliNode): Promise<void> {
  node.child.kill('SIGKILL');
  await node.exited();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

/** The recipient that names message `id` (one recipient per message, spread over 10 domains). */
export function rcptOf(id: number): string {
  return `m${id}@d${id % 10}.chaos.example.net`;
}

export function idOf(rcpt: string): number {
  return Number(/^m(\d+)@/.exec(rcpt)?.[1] ?? NaN);
}

/** Delivered message ids at an MX: unique ones and how many copies beyond the first. */
export function deliveries(mx: TestMx, sender = 'app@chaos.example.com'): { unique: Set<number>; duplicates: number } {
  const unique = new Set<number>();
  let total = 0;
  for (const m of mx.messages) {
    if (m.mailFrom !== sender) continue;
    for (const r of m.rcpts) {
      total++;
      unique.add(idOf(r));
    }
  }
  return { unique, duplicates: total - unique.size };
}

export interface ClientStats {
  readonly acked: Set<number>;
  /** Replies other than 250 to the end of DATA or MAIL, by "code enhanced". */
  readonly refusals: Map<string, number>;
  /** When each id got its 250 (ms since epoch). */
  readonly ackedAt: Map<number, number>;
  /** Ids whose connection dropped while they were being sent: sent again, maybe a second copy. */
  readonly resent: Set<number>;
}

export function newStats(): ClientStats {
  return { acked: new Set(), refusals: new Map(), ackedAt: new Map(), resent: new Set() };
}

/**
 * Sends messages `ids` over `concurrency` connections to 127.0.0.1:`port`, each until it
 * gets a 250: a dropped connection, a refused connect or a 4xx means "send it again"
 * (what a well-behaved submitting application does). Resolves when all got a 250 or
 * `stop()` says so.
 */
export async function sendAll(port: number, ids: readonly number[], o: { concurrency?: number; body?: (id: number) => string; stop?: () => boolean; stats?: ClientStats } = {}): Promise<ClientStats> {
  const stats: ClientStats = o.stats ?? newStats();
  const queue = [...ids];
  const body = o.body ?? ((id: number) => `From: <app@chaos.example.com>\r\nTo: <${rcptOf(id)}>\r\nSubject: chaos ${id}\r\nMessage-ID: <${id}@chaos.example.com>\r\n\r\nmessage ${id}\r\n`);
  const worker = async () => {
    let c: RawSmtp | null = null;
    for (let id = queue.shift(); id !== undefined; ) {
      if (o.stop?.()) return;
      let sending = false;
      try {
        if (!c || c.closed) {
          c?.close();
          c = await RawSmtp.open(port);
          const greet = await c.read();
          if (greet?.code !== 220 || (await c.cmd('EHLO app.chaos.test'))?.code !== 250) throw new Error('no greeting');
        }
        sending = true;
        const r = await c.send('app@chaos.example.com', [rcptOf(id)], body(id));
        sending = false;
        if (r === null) stats.resent.add(id);
        if (r?.code === 250) {
          stats.acked.add(id);
          stats.ackedAt.set(id, Date.now());
          id = queue.shift();
          continue;
        }
        if (r) {
          const k = `${r.code} ${r.text.split(' ')[0] ?? ''}`;
          stats.refusals.set(k, (stats.refusals.get(k) ?? 0) + 1);
          await c.cmd('RSET').catch(() => null);
        }
        await sleep(r ? 100 : 20);
      } catch {
        if (sending) stats.resent.add(id);
        c?.close();
        c = null;
        await sleep(50);
      }
    }
    c?.close();
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  return stats;
}

/** Duplicates split by cause: the client sent the message twice (no 250 seen), or the node delivered one copy twice. */
export function duplicateCauses(mx: TestMx, stats: ClientStats, sender = 'app@chaos.example.com'): { client_resent: number; delivered_twice: number } {
  const copies = new Map<number, number>();
  for (const m of mx.messages) if (m.mailFrom === sender) for (const r of m.rcpts) copies.set(idOf(r), (copies.get(idOf(r)) ?? 0) + 1);
  let clientResent = 0;
  let deliveredTwice = 0;
  for (const [id, n] of copies) {
    if (n < 2) continue;
    if (stats.resent.has(id)) clientResent += n - 1;
    else deliveredTwice += n - 1;
  }
  return { client_resent: clientResent, delivered_twice: deliveredTwice };
}

/** Lines of the node's log with `"event":"<event>"`, parsed. */
export function events(node: CliNode, event: string): Record<string, unknown>[] {
  return node
    .output()
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return []; // a line still being written
      }
    });
}
