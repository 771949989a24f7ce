/**
 * Peer transport bench (issue 14, docs/BENCHMARKS.md "Peer transport"): one receiving node as
 * its own process (a cluster listener and a replica store, as with `[cluster] replicas = 2`),
 * and this process sending it COUNT replicas of a 2 kB message through PeerTransport, CONCURRENCY
 * at a time. Prints copies per second, the latency of each copy (send to the peer's 250:
 * p50 / p99), and CPU per copy on each side (this process: process.cpuUsage; the node:
 * /proc/<pid>/stat).
 *
 *   SLUICE_BENCH=1 [BENCH_COUNT=2000] [BENCH_CONCURRENCY=1,4,12] [BENCH_PROTOCOL=framed|smtp] npx vitest run test/bench/peer-bench.test.ts
 *
 * BENCH_PROTOCOL: the framed peer protocol (default) or SMTP, both through PeerTransport.
 *
 * Skipped without SLUICE_BENCH (it is a measurement, not a check).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'vitest';
import { PeerTransport } from '../../gateway/cluster/peer-transport.js';
import type { PeerFacts } from '../../gateway/cluster/peer-facts.js';
import { startCli, startGateway, tempDir, type TestGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startRedis } from '../support/redis-server.js';

const SECRET = 'peer-bench-secret-0123456789abcdef';
const BODY = Buffer.from(`From: app@sender.test\r\nTo: u@example.test\r\nSubject: bench\r\n\r\n${'x'.repeat(76).concat('\r\n').repeat(26)}`);

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of stat; here 0-based after the "(comm) " part: 11, 12.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function facts(i: number, run: string): PeerFacts {
  const id = `R${run}${i.toString(36).padStart(6, '0')}`;
  return {
    v: 1,
    kind: 'replica',
    origin: 'n1',
    queueId: id,
    envelope: { id, mailFrom: 'app@sender.test', rcpts: [`u${i}@example.test`], receivedAt: Date.now(), class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false },
    attempts: {},
    done: [],
    hops: 0,
  };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

test.skipIf(!process.env['SLUICE_BENCH'])(
  'peer transport: replicas to one peer',
  async () => {
    const count = Number(process.env['BENCH_COUNT'] ?? 2000);
    const levels = (process.env['BENCH_CONCURRENCY'] ?? '1,4,12').split(',').map(Number);
    const redis = await startRedis();
    const dir = tempDir('sluice-peer-bench-');
    const port = await freePort();
    const relay = await freePort();
    writeFileSync(
      join(dir, 'n2.toml'),
      `[node]
id = "n2"
data_dir = "${dir}/n2"
[cluster]
redis_url = "${redis.url}"
secret = "${SECRET}"
replicas = 2
[[listen]]
host = "127.0.0.1"
port = ${relay}
mode = "relay"
[[listen]]
host = "127.0.0.1"
port = ${port}
mode = "cluster"
[relay]
networks = ["127.0.0.1/32"]
[sources.b]
ip = "127.0.0.31"
ehlo = "b.sluice.test"
`,
    );
    // BENCH_PROFILE=DIR: the node writes a CPU profile there when it stops.
    const prof = process.env['BENCH_PROFILE'];
    const node = startCli(join(dir, 'n2.toml'), [], prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []);
    const protocol = process.env['BENCH_PROTOCOL'] === 'smtp' ? 'smtp' : 'framed';
    const client = new PeerTransport({ nodeId: 'n1', secret: SECRET, hostname: 'n1.test', framed: protocol === 'framed' });
    let n1: TestGateway | undefined;
    try {
      // n1, the origin of the copies, heartbeats from this process: n2 must not take them over.
      n1 = await startGateway(`[node]\nid = "n1"\ndata_dir = "\${DIR}/n1"\n[cluster]\nredis_url = "${redis.url}"\nsecret = "${SECRET}"\n[[listen]]\nhost = "127.0.0.1"\nport = 0\nmode = "relay"\n[sources.a]\nip = "127.0.0.32"\nehlo = "a.sluice.test"\n`);
      await node.waitFor('started');
      const peer = { id: 'n2', address: `127.0.0.1:${port}` };
      await client.send(peer, facts(0, 'w'), BODY); // connect once before timing
      for (const concurrency of levels) {
        const run = `c${concurrency}`;
        const latencies: number[] = [];
        let next = 0;
        const pid = node.child.pid as number;
        const nodeCpu0 = cpuMs(pid);
        const ownCpu0 = process.cpuUsage();
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < count) {
              const i = next++;
              const s = performance.now();
              await client.send(peer, facts(i, run), BODY);
              latencies.push(performance.now() - s);
            }
          }),
        );
        const seconds = (performance.now() - t0) / 1000;
        const own = process.cpuUsage(ownCpu0);
        const nodeCpu = cpuMs(pid) - nodeCpu0;
        latencies.sort((a, b) => a - b);
        console.log(
          `${protocol} concurrency ${concurrency}: ${count} copies in ${seconds.toFixed(2)} s = ${(count / seconds).toFixed(1)}/s; latency p50 ${pct(latencies, 50).toFixed(2)} ms, p99 ${pct(latencies, 99).toFixed(2)} ms; CPU per copy: sender ${((own.user + own.system) / 1000 / count).toFixed(3)} ms, receiver ${(nodeCpu / count).toFixed(3)} ms`,
        );
      }
    } finally {
      client.close();
      await n1?.stop();
      node.child.kill('SIGTERM');
      await node.exited();
      await redis.stop();
    }
  },
  600_000,
);
