/**
 * Commit throughput of both spools: 20 000 messages of 5 KB from 20 concurrent
 * committers (an SMTP ingress under 20 clients), on the disk that holds the temp dir.
 * Not a vitest file (no .test.ts). Node 20 cannot run .ts, so compile it first:
 *
 *   printf '{"extends":"%s/tsconfig.json","compilerOptions":{"outDir":"/tmp/sluice-spool-bench","rootDir":"%s"},"include":["%s/test/spool/segment-spool.bench.ts"]}' $PWD $PWD $PWD > /tmp/tsconfig.spool-bench.json
 *   npx tsc -p /tmp/tsconfig.spool-bench.json
 *   echo '{"type":"module"}' > /tmp/sluice-spool-bench/package.json
 *   node /tmp/sluice-spool-bench/test/spool/segment-spool.bench.js [messages] [committers] [bytes]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskSpool } from '../../gateway/spool/disk-spool.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope, Spool } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const MESSAGES = Number(process.argv[2] ?? 20_000);
const COMMITTERS = Number(process.argv[3] ?? 20);
const BYTES = Number(process.argv[4] ?? 5_000);

function envelope(i: number): Envelope {
  return {
    id: `${Date.now().toString(36).toUpperCase()}${String(i).padStart(6, '0')}B3NC`,
    mailFrom: 'app@example.com',
    rcpts: [`user${i}@example.net`],
    receivedAt: Date.now(),
    class: 'transactional',
    pool: null,
    priority: null,
    campaign: null,
    messageId: `<${i}.bench@example.com>`,
    authUser: null,
    clientAddress: '127.0.0.1',
    routeHeaders: {},
    isDsn: false,
  };
}

async function run(name: string, open: (root: string) => Promise<Spool & { syncs?: number }>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-spool-bench-'));
  const spool = await open(join(dir, 'spool'));
  await recoverAll(spool, () => undefined);
  const bodies = Array.from({ length: 64 }, () => Buffer.from(randomBytes(Math.ceil(BYTES * 0.75)).toString('base64').slice(0, BYTES)));
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: COMMITTERS }, async () => {
      while (next < MESSAGES) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        await spool.commit(envelope(i), bodies[i % bodies.length] as Buffer);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await spool.close();
  await rm(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(2);
  const syncs = spool.syncs === undefined ? '' : `, ${spool.syncs} fdatasyncs (${(MESSAGES / spool.syncs).toFixed(1)} commits each)`;
  console.log(`${name.padEnd(8)} ${Math.round(MESSAGES / seconds).toString().padStart(6)} commits/s  (${seconds.toFixed(2)} s; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms${syncs})`);
}

console.log(`${MESSAGES} commits × ${BYTES} B, ${COMMITTERS} concurrent committers, UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}, dir ${tmpdir()}`);
await run('disk', (root) => DiskSpool.open(root));
await run('segment', (root) => SegmentSpool.open(root, { compactEveryMs: 0 }));
