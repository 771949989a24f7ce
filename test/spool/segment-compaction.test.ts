/**
 * Compaction: live records of mostly-dead sealed segments move into the current one and
 * the old files go, while readBody keeps working; the journal is rewritten to what live
 * messages need and nothing it says is lost.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { recoverAll, spoolEnvelope, tempRoots } from '../support/spool.js';

const tempRoot = tempRoots('sluice-seg-compact-');

const envelope = (id: string): Envelope => spoolEnvelope(id);

const segFiles = (root: string): string[] => readdirSync(join(root, 'seg')).filter((f) => f.endsWith('.seg')).sort();

/** 64 messages of 2 KB over ~5 segments of 32 KB; every 8th stays, the rest are removed. */
async function mostlyDead(root: string, clock: FakeClock): Promise<{ spool: SegmentSpool; live: Map<string, Buffer>; before: string[] }> {
  // cacheBytes 0: every readBody goes to the segment files, the path compaction changes.
  const spool = await SegmentSpool.open(root, { clock, compactEveryMs: 0, segmentBytes: 32 * 1024, cacheBytes: 0 });
  await recoverAll(spool, () => undefined);
  const live = new Map<string, Buffer>();
  for (let i = 0; i < 64; i++) {
    const id = `M${String(i).padStart(2, '0')}`;
    const body = randomBytes(2_000);
    await spool.commit(envelope(id), body);
    if (i % 8 === 0) live.set(id, body);
  }
  for (let i = 0; i < 64; i++) if (i % 8 !== 0) await spool.remove(`M${String(i).padStart(2, '0')}`);
  return { spool, live, before: segFiles(root) };
}

test('live records of mostly-dead segments move, the old segments are unlinked, reads keep working', async () => {
  const root = tempRoot();
  const clock = new FakeClock();
  const { spool, live, before } = await mostlyDead(root, clock);
  expect(before.length).toBeGreaterThanOrEqual(4);

  // Sealed less than a minute ago: left alone (their messages are likely about to go).
  expect(await spool.compact()).toEqual({ moved: 0, freedSegments: 0 });

  clock.advance(61_000);
  let reads = 0;
  let compacting = true;
  const readers = [...live].map(async ([id, body]) => {
    while (compacting) {
      expect((await spool.readBody(id)).equals(body)).toBe(true);
      reads++;
    }
  });
  const sealed = before.length - 1;
  const report = await spool.compact();
  compacting = false;
  await Promise.all(readers);
  expect(report.freedSegments).toBe(sealed);
  expect(report.moved).toBeGreaterThanOrEqual(live.size - 1); // all but those in the current segment
  expect(reads).toBeGreaterThan(0);
  const after = segFiles(root);
  expect(after.filter((f) => before.slice(0, sealed).includes(f))).toEqual([]);
  for (const [id, body] of live) expect((await spool.readBody(id)).equals(body)).toBe(true);
  await spool.close();

  const again = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  const found = await recoverAll(again, () => {
    throw new Error('no damage expected');
  });
  expect(found.map((m) => m.envelope.id).sort()).toEqual([...live.keys()].sort());
  for (const [id, body] of live) expect((await again.readBody(id)).equals(body)).toBe(true);
  await again.close();
});

test('a message removed while compaction moves it does not come back', async () => {
  const root = tempRoot();
  const clock = new FakeClock();
  const { spool, live } = await mostlyDead(root, clock);
  clock.advance(61_000);
  // Remove M00 in the window that matters: its new copy is written but not yet synced,
  // so the index still points at the old one.
  const probe = await open(join(root, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: (this: FileHandle) => Promise<void> };
  await probe.close();
  const original = proto.datasync;
  let removed = false;
  proto.datasync = async function (this: FileHandle) {
    if (!removed) {
      removed = true;
      await spool.remove('M00');
    }
    return original.call(this);
  };
  try {
    await spool.compact();
  } finally {
    proto.datasync = original;
  }
  expect(removed).toBe(true);
  await spool.close();

  const again = await SegmentSpool.open(root, { compactEveryMs: 0 });
  const ids = (await recoverAll(again, () => undefined)).map((m) => m.envelope.id).sort();
  expect(ids).toEqual([...live.keys()].filter((id) => id !== 'M00').sort());
  await again.close();
});

test('the journal is rewritten when it grows, and keeps every fact live messages need', async () => {
  const root = tempRoot();
  const journal = join(root, 'journal.log');
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0, journalCompactBytes: 16 * 1024 });
  await recoverAll(spool, () => undefined);
  for (let i = 0; i < 200; i++) await spool.commit(envelope(`J${i}`), randomBytes(200));
  for (let round = 1; round <= 20; round++) {
    for (let i = 0; i < 200; i++) spool.record(`J${i}`, `j${i}@example.net`, { attempts: round });
    await new Promise((r) => setImmediate(r));
  }
  // 200 × 20 attempt lines (~170 KB) went out; a rewrite starts on its own once the journal
  // has grown past the threshold (polled: there is no event for it).
  for (let i = 0; i < 400 && statSync(journal).size > 64 * 1024; i++) await new Promise((r) => setTimeout(r, 5));
  expect(statSync(journal).size).toBeLessThan(64 * 1024);

  for (let i = 100; i < 200; i++) await spool.remove(`J${i}`);
  spool.record('J0', 'other@example.net', 'delivered');
  await spool.close();

  const again = await SegmentSpool.open(root, { compactEveryMs: 0 });
  const found = await recoverAll(again, () => undefined);
  expect(found.map((m) => m.envelope.id).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `J${i}`).sort());
  for (const m of found) expect(m.attempts.get(`${m.envelope.id.toLowerCase()}@example.net`)).toBe(20);
  expect(found.find((m) => m.envelope.id === 'J0')?.done.get('other@example.net')).toBe('delivered');
  await again.close();
  // Recovery rewrote it: one attempt line per live recipient (~4.5 KB), and the done lines
  // of removed messages whose segment is still there, as it holds live ones too (~4 KB).
  expect(statSync(journal).size).toBeLessThan(12 * 1024);
});
