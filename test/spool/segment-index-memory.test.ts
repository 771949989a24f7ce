/**
 * The in-memory cost of 100 000 queued messages with their bodies on disk: the index
 * (id → segment, offset, lengths) after commits and after a recovery. Reported in the
 * output; the bound asserted is loose (the brief: well under 300 MB RSS in total).
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const MESSAGES = 100_000;
const MB = 1024 * 1024;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Heap plus typed-array memory (the index lives in both), after a full GC. */
function footprint(): { heap: number; rss: number } {
  collect();
  collect();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

function envelope(i: number): Envelope {
  const id = `${(1_780_000_000_000 + i).toString(36).toUpperCase()}${String(i).padStart(6, '0')}AB12`;
  return { id, mailFrom: 'app@example.com', rcpts: [`user${i}@domain${i % 500}.example`], receivedAt: 1_780_000_000_000 + i, class: 'transactional', pool: null, priority: null, campaign: null, messageId: `<${i}@example.com>`, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false };
}

/** 100k commits from 200 concurrent writers; the footprint is taken while the spool is open. */
async function commitAll(root: string, body: Buffer): Promise<{ commitMs: number; syncs: number; afterCommits: { heap: number; rss: number } }> {
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  await recoverAll(spool, () => undefined);
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < MESSAGES) await spool.commit(envelope(next++), body);
    }),
  );
  const commitMs = Date.now() - started;
  const afterCommits = footprint();
  await spool.close();
  return { commitMs, syncs: spool.syncs, afterCommits };
}

async function recoveredCount(spool: SegmentSpool): Promise<number> {
  return (await recoverAll(spool, () => undefined)).length;
}

test('100k queued messages: index memory', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-seg-memory-'));
  dirs.push(root);
  const body = Buffer.from(`Subject: hello\r\n\r\n${'x'.repeat(400)}\r\n`);
  const base = footprint();

  const { commitMs, syncs, afterCommits } = await commitAll(root, body);

  const again = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  const t0 = Date.now();
  // Only the count leaves the helper: the recovered envelopes are the scheduler's memory,
  // and a frame still holding them would be counted as the spool's.
  expect(await recoveredCount(again)).toBe(MESSAGES);
  const recoverMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1));
  const afterRecovery = footprint();
  await again.close();

  const perEntry = (f: { heap: number }) => (f.heap - base.heap) / MESSAGES;
  console.log(
    [
      `${MESSAGES} messages committed in ${commitMs} ms with ${syncs} fdatasyncs; recovered in ${recoverMs} ms`,
      `spool memory after commits:  ${((afterCommits.heap - base.heap) / MB).toFixed(1)} MB (${perEntry(afterCommits).toFixed(0)} B/message), rss ${(afterCommits.rss / MB).toFixed(0)} MB`,
      `spool memory after recovery: ${((afterRecovery.heap - base.heap) / MB).toFixed(1)} MB (${perEntry(afterRecovery).toFixed(0)} B/message), rss ${(afterRecovery.rss / MB).toFixed(0)} MB`,
    ].join('\n'),
  );
  expect(afterCommits.heap - base.heap).toBeLessThan(40 * MB);
  expect(afterRecovery.heap - base.heap).toBeLessThan(40 * MB);
});
