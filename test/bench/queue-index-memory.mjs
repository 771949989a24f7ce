// The live queue index alone: heap per entry, add cost, summary time. Run after a build:
//   npx tsc -p tsconfig.json && node --expose-gc test/bench/queue-index-memory.mjs 100000
const { QueueIndex } = await import('../../dist/gateway/queue/index.js');
const N = Number(process.argv[2] ?? 100000);
// The recipients and ids exist anyway (the scheduler holds them); made first so only the index is counted.
const rows = Array.from({ length: N }, (_, i) => ({ id: `Q${i.toString(36).padStart(10, '0')}`, rcpts: [`u${i}@d${i % 1000}.test`], domain: `d${i % 1000}.test` }));
global.gc(); const before = process.memoryUsage().heapUsed;
const idx = new QueueIndex();
const t = performance.now();
for (const r of rows) idx.add({ id: r.id, domain: r.domain, sender: `app${r.id.length % 50}@s.test`, campaign: 'c1', cls: 'transactional', receivedAt: Date.now(), pool: 'transactional', provider: 'default', source: null, rcpts: r.rcpts, state: 'ready', attempts: 0, nextAt: 0, lastReply: null });
const addMs = performance.now() - t;
global.gc(); const after = process.memoryUsage().heapUsed;
const t2 = performance.now(); const s = idx.summary('domain', Date.now()); const sumMs = performance.now() - t2;
// Provider groups keep no members: their oldest comes from one walk of the queue.
const t3 = performance.now(); const sp = idx.summary('provider', Date.now()); const provMs = performance.now() - t3;
const t4 = performance.now(); const sel = idx.select({ provider: 'default' }); const selMs = performance.now() - t4;
console.log(`${N} entries: index heap ${((after - before) / 2 ** 20).toFixed(1)} MiB (${((after - before) / N).toFixed(0)} B/entry), add ${(addMs / N * 1000).toFixed(2)} us/entry, summary by domain (${s.length} groups) ${sumMs.toFixed(1)} ms, by provider (${sp.length}) ${provMs.toFixed(1)} ms, select by provider (${sel.length}) ${selMs.toFixed(1)} ms`);
