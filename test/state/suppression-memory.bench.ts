/**
 * 1,000,000 suppression entries in the embedded store: heap, replay time and lookup
 * time. Not a vitest file (no .test.ts): it needs a clean process and --expose-gc.
 *
 *   npx tsc -p /tmp/tsconfig.bench.json   # extends tsconfig.json; include: this file; outDir /tmp/sluice-bench
 *   echo '{"type":"module"}' > /tmp/sluice-bench/package.json
 *   node --expose-gc /tmp/sluice-bench/test/state/suppression-memory.bench.js [entries]
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedSuppression } from '../../gateway/state/embedded/suppression-store.js';
import type { SuppressionEntry } from '../../gateway/state/types.js';

const MB = 1024 * 1024;
const BATCH = 20_000;
const LOOKUPS = 1_000_000;
const REASONS = ['unsubscribe', 'hard-bounce', 'complaint', 'manual'] as const;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  collect();
  collect();
}

/** Heap + typed-array bytes now, after a full GC; prints them. */
function footprint(label: string): number {
  gc();
  const { heapUsed, arrayBuffers, rss } = process.memoryUsage();
  const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
  console.log(`${label}: heapUsed ${mb(heapUsed)}, arrayBuffers ${mb(arrayBuffers)}, rss ${mb(rss)}`);
  return heapUsed + arrayBuffers;
}

/** Realistic-length addresses (~35 chars), spread over 5,000 domains. */
const address = (i: number): string => `user.${i}.${(i * 2654435761) % 100000}@domain${i % 5000}.example`;

function entry(i: number): SuppressionEntry {
  const reason = REASONS[i % 4] ?? 'manual';
  return { address: address(i), reason, source: i % 2 ? 'delivery' : 'cli', at: 1_790_000_000_000 + i };
}

async function fill(store: EmbeddedSuppression, total: number): Promise<void> {
  const started = performance.now();
  for (let from = 0; from < total; from += BATCH) {
    const batch: SuppressionEntry[] = [];
    for (let i = from; i < Math.min(total, from + BATCH); i++) batch.push(entry(i));
    await store.add(batch);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`added ${total} entries in ${seconds} s (batches of ${BATCH}, one fsync each)`);
}

/** Half hits (upper-cased, to exercise normalising), half misses (which also try the domain). */
async function lookups(store: EmbeddedSuppression, total: number): Promise<void> {
  const probes: string[] = [];
  for (let n = 0; n < LOOKUPS; n++) {
    const i = (n * 7919) % (total * 2);
    probes.push(i < total ? address(i).toUpperCase() : `nobody${i}@nowhere.example`);
  }
  let hits = 0;
  const started = performance.now();
  for (const probe of probes) if ((await store.check(probe)) !== null) hits++;
  const elapsed = performance.now() - started;
  const each = ((elapsed * 1000) / LOOKUPS).toFixed(2);
  console.log(`${LOOKUPS} checks (${hits} hits, await included): ${elapsed.toFixed(0)} ms, ${each} µs each`);
}

/** Fills a store and closes it; in its own function so the store is garbage before the reopen. */
async function build(dataDir: string, total: number, base: number): Promise<void> {
  const store = new EmbeddedSuppression(dataDir);
  await store.open();
  await fill(store, total);
  const filled = footprint('after add');
  console.log(`  per entry: ${((filled - base) / total).toFixed(0)} bytes (heap + typed arrays)`);
  await store.close();
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 1_000_000);
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  try {
    const base = footprint('baseline');
    await build(dataDir, total, base);
    const logBytes = (await stat(join(dataDir, 'suppression.log'))).size;
    console.log(`log file: ${(logBytes / MB).toFixed(1)} MB`);

    const store = new EmbeddedSuppression(dataDir);
    const started = performance.now();
    await store.open();
    console.log(`reopen (replay the log): ${(performance.now() - started).toFixed(0)} ms, ${await store.count()} entries`);
    const reopened = footprint('after reopen');
    console.log(`  per entry: ${((reopened - base) / total).toFixed(0)} bytes (heap + typed arrays)`);
    await lookups(store, total);
    await store.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
