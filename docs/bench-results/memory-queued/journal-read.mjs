// What reading the spool journal of accept.sh's data dir retains: heap after a full GC,
// before and after SegmentJournal.read. Usage (after accept.sh, from the project root):
//   node --expose-gc docs/bench-results/memory-queued/journal-read.mjs [MEM_DIR]
import { copyFileSync } from 'node:fs';
import { SegmentJournal } from '../../../dist/gateway/spool/segment-journal.js';

const dir = process.argv[2] ?? '/tmp/mem';
copyFileSync(`${dir}/snap/spool/journal.log`, `${dir}/journal-copy.log`);
globalThis.gc();
const before = process.memoryUsage().heapUsed;
const t = Date.now();
const journal = await SegmentJournal.open(`${dir}/journal-copy.log`, () => undefined);
const read = await journal.read();
const ms = Date.now() - t;
globalThis.gc();
const retained = process.memoryUsage().heapUsed - before;
const facts = read.facts ?? read; // builds before 2026-12-06 returned the Map itself
console.log(`${facts.size} messages: ${(retained / 1e6).toFixed(1)} MB retained (${Math.round(retained / facts.size)} B a message), read in ${ms} ms`);
await journal.close();
