/**
 * Queue-control cost bench (issue 17, docs/BENCHMARKS.md): fills one node's queue with
 * RECIPIENTS recipients through the node's internal accept path (spool commit, then the
 * scheduler, as the SMTP sink does, without the SMTP round trips), every domain's MX a
 * closed port (each attempt is deferred for 1 h), then measures over the admin API
 * `GET /api/queue?by=domain`, a `bounce` of one domain's BOUNCE recipients (its answer, and
 * until every recipient is ended and every DSN committed), then a `cancel` of another
 * domain's CANCEL recipients (its answer, and until every recipient is ended), the accept
 * latency (end of DATA to 250) idle and while those run, and the process memory.
 *
 *   SLUICE_BENCH=1 [BENCH_RECIPIENTS=1000000] [BENCH_BOUNCE=100000] [BENCH_CANCEL=100000] npx vitest run test/bench/queue-bench.test.ts
 *
 * Skipped without SLUICE_BENCH (it is a measurement, not a check).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../gateway/config/load.js';
import { SluiceNode } from '../../gateway/node.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { test } from 'vitest';

const TOKEN = 'bench-token-0123456789';
const PER_MESSAGE = 10;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function envelope(i: number, domain: string, now: number): Envelope {
  return { id: `B${i.toString(36).padStart(8, '0')}`, mailFrom: `app${i % 50}@sender.test`, rcpts: Array.from({ length: PER_MESSAGE }, (_, k) => `u${i}-${k}@${domain}`), receivedAt: now, class: 'transactional', pool: null, priority: null, campaign: `c${i % 20}`, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false };
}

/** Sends `n` one-recipient messages on one SMTP connection, and more while `more()`; returns each accept latency (ms). */
async function acceptLatencies(port: number, n: number, more: () => boolean = () => false): Promise<number[]> {
  const sock: Socket = connect(port, '127.0.0.1');
  let buf = '';
  const waiters: ((line: string) => void)[] = [];
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (line[3] === '-') continue;
      waiters.shift()?.(line);
    }
  });
  const reply = () => new Promise<string>((r) => waiters.push(r));
  const cmd = async (text: string) => {
    const r = reply();
    sock.write(`${text}\r\n`);
    return r;
  };
  await reply();
  await cmd('EHLO bench.test');
  const out: number[] = [];
  for (let i = 0; i < n || more(); i++) {
    await cmd('MAIL FROM:<app@sender.test>');
    await cmd(`RCPT TO:<probe${i}@probe.test>`);
    await cmd('DATA');
    const t = performance.now();
    const r = await cmd(`Subject: probe ${i}\r\n\r\nprobe\r\n.`);
    out.push(performance.now() - t);
    if (!r.startsWith('250')) throw new Error(`accept refused: ${r}`);
  }
  sock.end('QUIT\r\n');
  return out;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] ?? NaN;

async function main(): Promise<void> {
  const recipients = Number(process.env['BENCH_RECIPIENTS'] ?? 1_000_000);
  const bounce = Number(process.env['BENCH_BOUNCE'] ?? 100_000);
  const cancel = Number(process.env['BENCH_CANCEL'] ?? bounce);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-queue-bench-'));
  const [smtp, adminPort, closed] = [await freePort(), await freePort(), await freePort()];
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `[node]\ndata_dir = "${dir}/data"\n[[listen]]\nhost = "127.0.0.1"\nport = ${smtp}\nmode = "relay"\n[relay]\nnetworks = ["127.0.0.1/32"]\n[dns.static]\n"*" = "127.0.0.1:${closed}"\n[delivery]\nconnect_timeout = "1s"\n[queue]\nretry = ["1h"]\n[admin]\nlisten = "127.0.0.1:${adminPort}"\ntoken = "${TOKEN}"\n`);
  const node = new SluiceNode({ loaded: loadConfig(file), logger: pino({ level: 'silent' }) });
  await node.start();
  const api = async (method: string, path: string, body?: unknown) => {
    const t = performance.now();
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as Record<string, unknown>;
    return { ms: performance.now() - t, json };
  };
  const heap0 = process.memoryUsage();
  const messages = Math.ceil(recipients / PER_MESSAGE);
  const bounceMessages = Math.ceil(bounce / PER_MESSAGE);
  const cancelMessages = Math.ceil(cancel / PER_MESSAGE);
  const domainOf = (n: number) => (n < bounceMessages ? 'big.test' : n < bounceMessages + cancelMessages ? 'cut.test' : `d${n % 1000}.test`);
  const body = Buffer.from('Subject: bench\r\n\r\nbench body\r\n');
  const t0 = performance.now();
  for (let i = 0; i < messages; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, messages - i) }, async (_, k) => {
      const n = i + k;
      const e = envelope(n, domainOf(n), Date.now());
      await node.spool.commit(e, body);
      node.scheduler.add(e);
    }));
  }
  console.log(`queued ${messages * PER_MESSAGE} recipients (${messages} messages) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Every first attempt is refused (closed port): wait until nothing is ready or in flight.
  for (;;) {
    const rows = (await api('GET', '/api/queue?by=class')).json['groups'] as { ready: number; in_flight: number; deferred: number }[];
    const busy = rows.reduce((a, g) => a + g.ready + g.in_flight, 0);
    if (busy === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const mem = process.memoryUsage();
  console.log(`memory with the queue: rss ${(mem.rss / 2 ** 20).toFixed(0)} MB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MB (before filling: rss ${(heap0.rss / 2 ** 20).toFixed(0)} MB, heap ${(heap0.heapUsed / 2 ** 20).toFixed(0)} MB); index entries ${node.scheduler.index.size}`);
  const idle = await acceptLatencies(smtp, 200);
  console.log(`accept p99 idle: ${p99(idle).toFixed(2)} ms`);
  const times: number[] = [];
  const during = acceptLatencies(smtp, 200);
  for (let i = 0; i < 5; i++) times.push((await api('GET', '/api/queue?by=domain')).ms);
  const busyLat = await during;
  console.log(`GET /api/queue?by=domain: ${times.map((t) => t.toFixed(0)).join(', ')} ms (groups: ${((await api('GET', '/api/queue?by=domain')).json['groups'] as unknown[]).length}); accept p99 meanwhile ${p99(busyLat).toFixed(2)} ms`);
  /** One bounce or cancel of a domain: its answer, until it is done, and the accept latency meanwhile. */
  const endDomain = async (action: 'bounce' | 'cancel', domain: string, what: string) => {
    let running = true;
    const during2 = acceptLatencies(smtp, 200, () => running);
    const tb = performance.now();
    const b = await api('POST', `/api/queue/${action}`, { selector: { domain } });
    // The action answers once its mail is taken; done when every recipient is ended (and, for a bounce, every DSN committed).
    await (node.scheduler.ops as { idle?: () => Promise<void> }).idle?.();
    const done = performance.now() - tb;
    running = false;
    const lat2 = await during2;
    const left = node.scheduler.index.select({ domain }).length;
    console.log(`${action} --domain ${domain}: answered in ${(b.ms / 1000).toFixed(2)} s, done in ${(done / 1000).toFixed(2)} s for ${String(b.json['recipients'])} recipients (${String(b.json['messages'])} messages${what}; ${left} entries left); accept p99 meanwhile ${p99(lat2).toFixed(2)} ms (${lat2.length} probes)`);
  };
  await endDomain('bounce', 'big.test', ', each a DSN');
  if (cancelMessages > 0) await endDomain('cancel', 'cut.test', ', no DSN');
  await node.stop();
}

test.skipIf(!process.env['SLUICE_BENCH'])('queue control cost', main, 1_800_000);
