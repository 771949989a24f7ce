/**
 * Group commit: many concurrent commits share few fdatasyncs, a lone commit is not held
 * back, and no commit resolves before an fdatasync that covers its bytes has finished.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll, spoolEnvelope, tempRoots } from '../support/spool.js';

const tempRoot = tempRoots('sluice-seg-commit-');

const envelope = (id: string): Envelope => spoolEnvelope(id);

test('1000 concurrent commits share far fewer fdatasyncs; a lone commit goes out at once', async () => {
  const spool = await SegmentSpool.open(tempRoot(), { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  await Promise.all(Array.from({ length: 1000 }, (_, i) => spool.commit(envelope(`G${i}`), randomBytes(5_000))));
  const syncs = spool.syncs;
  console.log(`1000 concurrent commits: ${syncs} fdatasyncs`);
  expect(syncs).toBeGreaterThan(0);
  expect(syncs).toBeLessThan(1000 / 5);

  // Nothing else pending: one commit is written and synced on its own, without waiting.
  await spool.commit(envelope('LONE'), randomBytes(100));
  expect(spool.syncs).toBe(syncs + 1);
  await spool.close();
  await expect(spool.commit(envelope('LATE'), randomBytes(10))).rejects.toMatchObject({ code: 'SPOOL_WRITE_FAILED' });
});

test('no commit resolves before an fdatasync covering its bytes has finished', async () => {
  const root = tempRoot();
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  // Watch every FileHandle.datasync: what the file held when a sync started is durable when it ends.
  const probe = await open(join(root, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: (this: FileHandle) => Promise<void> };
  await probe.close();
  const original = proto.datasync;
  let durable = 0;
  proto.datasync = async function (this: FileHandle) {
    const { size } = await this.stat();
    await original.call(this);
    durable = Math.max(durable, size);
  };
  const seen: { body: Buffer; durableAtResolve: number }[] = [];
  try {
    await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const body = randomBytes(2_000 + (i % 7) * 1_000);
        await spool.commit(envelope(`P${i}`), body);
        seen.push({ body, durableAtResolve: durable });
      }),
    );
  } finally {
    proto.datasync = original;
  }
  await spool.close();
  const [seg, ...more] = readdirSync(join(root, 'seg')).filter((f) => f.endsWith('.seg'));
  expect(more).toEqual([]);
  const file = readFileSync(join(root, 'seg', seg as string));
  for (const { body, durableAtResolve } of seen) {
    const at = file.indexOf(body);
    expect(at).toBeGreaterThan(0);
    expect(at + body.length).toBeLessThanOrEqual(durableAtResolve);
  }
});

test('segments rotate at their size limit and every one of them is recovered', async () => {
  const root = tempRoot();
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0, segmentBytes: 64 * 1024 });
  await recoverAll(spool, () => undefined);
  const bodies = new Map<string, Buffer>();
  for (let i = 0; i < 100; i++) {
    const id = `S${String(i).padStart(3, '0')}`;
    bodies.set(id, randomBytes(5_000));
    await spool.commit(envelope(id), bodies.get(id) as Buffer);
  }
  await spool.close();
  const files = readdirSync(join(root, 'seg')).filter((f) => f.endsWith('.seg'));
  expect(files.length).toBeGreaterThanOrEqual(7);

  const again = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  const found = await recoverAll(again, () => {
    throw new Error('no damage expected');
  });
  expect(found.map((m) => m.envelope.id)).toEqual([...bodies.keys()]);
  for (const [id, b] of bodies) expect((await again.readBody(id)).equals(b)).toBe(true);
  await again.close();
});
