/**
 * Shaping test support: an in-process node whose JSON log lines the test can read
 * (events such as source_paused, warmup_exhausted), a DNS zone that maps many domains to
 * one provider's MX hosts, a submitter that queues many recipients quickly, and a watch of
 * the MX's concurrent sessions summed over every peer IP.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../gateway/config/load.js';
import { SluiceNode } from '../../gateway/node.js';
import { tempDir } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import type { TestMx } from '../support/test-mx.js';
import type { Zone } from '../support/dns-server.js';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export interface ShapingNode {
  readonly node: SluiceNode;
  readonly dir: string;
  readonly configFile: string;
  readonly port: number;
  readonly logs: LogLine[];
  events(name: string): LogLine[];
  /** Resolves with the first line of `event` (matching `where`), waiting for it if needed. */
  waitForEvent(name: string, where?: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/** Starts a node from `toml` (`${DIR}` → a fresh temp dir) with its log captured in memory. */
export async function startNode(toml: string, dir = tempDir('sluice-shaping-')): Promise<ShapingNode> {
  const configFile = join(dir, 'sluice.toml');
  writeFileSync(configFile, toml.replaceAll('${DIR}', dir));
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const stream = {
    write(line: string) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        return;
      }
      for (const w of [...waiters]) w();
      if (process.env['SLUICE_TEST_LOG']) process.stderr.write(line);
    },
  };
  const node = new SluiceNode({ loaded: loadConfig(configFile), logger: pino({ level: 'info' }, stream) });
  await node.start();
  const events = (name: string) => logs.filter((l) => l.event === name);
  return {
    node,
    dir,
    configFile,
    port: node.ports[0] as number,
    logs,
    events,
    waitForEvent(name, where = () => true, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events(name).find(where);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no "${name}" log line within ${timeoutMs} ms; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => node.stop(),
  };
}

/**
 * A zone where `count` domains `d<i>.<suffix>` all have MX `mxHost`, which resolves to
 * `ip`: many recipient domains, one provider, one site.
 */
export function providerZone(suffix: string, count: number, mxHost: string, ip: string): Zone {
  const zone: Zone = { [mxHost]: { a: [ip] } };
  for (let i = 0; i < count; i++) zone[`d${i}.${suffix}`] = { mx: [{ priority: 10, exchange: mxHost }] };
  return zone;
}

export interface Submission {
  readonly to: readonly string[];
  readonly headers?: readonly string[];
  readonly from?: string;
}

/** Submits messages over one SMTP session, in order; throws on any refusal. */
export async function submit(port: number, messages: readonly Submission[]): Promise<void> {
  const c = await RawSmtp.open(port);
  try {
    await c.read();
    await c.cmd('EHLO app.test');
    for (const m of messages) {
      const r = await c.send(m.from ?? 'app@example.com', m.to, message({ to: m.to[0] ?? '', headers: [...(m.headers ?? [])] }));
      if (r?.code !== 250) throw new Error(`submission refused: ${r?.code} ${r?.text}`);
    }
    await c.cmd('QUIT');
  } finally {
    c.close();
  }
}

/** `n` recipients spread over the domains d0..d<domains-1>.<suffix>. */
export function recipients(prefix: string, n: number, suffix: string, domains: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@d${i % domains}.${suffix}`);
}

/** Watches the sum of open sessions over every peer IP of `mx` (excluding `ignore`, e.g. probes). */
export function watchTotalSessions(mx: TestMx, ignore: readonly string[] = ['127.0.0.1']): { peak(): number; stop(): void } {
  let peak = 0;
  let stopped = false;
  void mx
    .waitUntil((m) => {
      if (stopped) return true;
      let cur = 0;
      for (const [ip, s] of m.peers()) if (!ignore.includes(ip)) cur += s.current;
      peak = Math.max(peak, cur);
      return false;
    }, 600_000)
    .catch(() => undefined);
  return {
    peak: () => peak,
    stop: () => {
      stopped = true;
    },
  };
}

/** Messages per sending session the MX saw (nodemailer reuses one connection for several). */
export function messagesPerSession(mx: TestMx): number[] {
  const by = new Map<string, number>();
  for (const m of mx.messages) by.set(m.sessionId, (by.get(m.sessionId) ?? 0) + 1);
  return [...by.values()];
}

/** Average messages per second from `ip` between its first and last message. */
export function averageRate(mx: TestMx, ip: string | null = null): number {
  const times = mx.messages.filter((m) => ip === null || m.peerIp === ip).map((m) => m.at);
  if (times.length < 2) return 0;
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return span > 0 ? (times.length - 1) / span : Infinity;
}
