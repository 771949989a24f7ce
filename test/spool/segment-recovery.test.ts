/**
 * Segment recovery after damage: a torn tail and a corrupt record are quarantined and
 * reported, and cost only the damaged message; a record-shaped message body cannot be
 * mistaken for a record when the scanner resyncs.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import { encodeRecord, readRecord, recordBytes, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll, spoolEnvelope, tempRoots } from '../support/spool.js';

const tempRoot = tempRoots('sluice-seg-recovery-');

const envelope = (id: string): Envelope => spoolEnvelope(id);

const open = (root: string) => SegmentSpool.open(root, { compactEveryMs: 0 });

/** Commits `ids` one after the other (so they sit in that order), then closes. */
async function spoolOf(root: string, ids: string[], bodyOf: (id: string) => Buffer = () => randomBytes(3_000)): Promise<Map<string, Buffer>> {
  const spool = await open(root);
  await recoverAll(spool, () => undefined);
  const bodies = new Map<string, Buffer>();
  for (const id of ids) {
    const b = bodyOf(id);
    bodies.set(id, b);
    await spool.commit(envelope(id), b);
  }
  await spool.close();
  return bodies;
}

function segFiles(root: string): string[] {
  return readdirSync(join(root, 'seg')).filter((f) => f.endsWith('.seg')).sort();
}

/** Record offsets of a healthy segment file, in order. */
function recordOffsets(file: string): number[] {
  const buf = readFileSync(file);
  const key = buf.subarray(8, 40);
  const out: number[] = [];
  for (let at = SEGMENT_HEADER_BYTES; at < buf.length; ) {
    const rec = readRecord(buf, at, key);
    if (typeof rec === 'string') throw new Error(`unexpected damage at ${at}: ${rec}`);
    out.push(at);
    at += recordBytes(rec.metaLength, rec.bodyLength);
  }
  return out;
}

async function reopen(root: string): Promise<{ spool: SegmentSpool; ids: string[]; reports: [string, string][] }> {
  const spool = await open(root);
  const reports: [string, string][] = [];
  const ids = (await recoverAll(spool, (file, reason) => reports.push([file, reason]))).map((m) => m.envelope.id);
  return { spool, ids, reports };
}

test('a torn tail is quarantined and reported; the records before it are recovered', async () => {
  const root = tempRoot();
  const bodies = await spoolOf(root, ['T1', 'T2', 'T3', 'T4', 'T5']);
  const [name] = segFiles(root);
  const file = join(root, 'seg', name as string);
  const offsets = recordOffsets(file);
  const last = offsets[4] as number;
  const whole = readFileSync(file);
  await truncate(file, last + 1_000); // mid-body of T5, as a crash during its write would leave it

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['T1', 'T2', 'T3', 'T4']);
  expect(reports).toEqual([[`00000001-${last}.bad`, expect.stringMatching(/^torn record/)]]);
  expect(readFileSync(join(root, 'quarantine', `00000001-${last}.bad`)).equals(whole.subarray(last, last + 1_000))).toBe(true);
  for (const id of ids) expect((await spool.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await spool.close();

  // The tail was cut off once quarantined: the next start has nothing to report.
  const next = await reopen(root);
  expect(next.ids).toEqual(['T1', 'T2', 'T3', 'T4']);
  expect(next.reports).toEqual([]);
  await next.spool.close();
});

test('a flipped byte in the middle record loses only that message', async () => {
  const root = tempRoot();
  const bodies = await spoolOf(root, ['F1', 'F2', 'F3']);
  const file = join(root, 'seg', segFiles(root)[0] as string);
  const [, second, third] = recordOffsets(file) as [number, number, number];
  const buf = readFileSync(file);
  const original = Buffer.from(buf.subarray(second, third));
  buf.writeUInt8(buf.readUInt8(second + 2_000) ^ 0x04, second + 2_000); // inside F2's body
  writeFileSync(file, buf);

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['F1', 'F3']);
  expect(reports).toEqual([[`00000001-${second}.bad`, 'checksum mismatch']]);
  const quarantined = readFileSync(join(root, 'quarantine', `00000001-${second}.bad`));
  expect(quarantined.length).toBe(original.length);
  for (const id of ids) expect((await spool.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await spool.close();

  // The damaged segment was emptied into a new one and unlinked: no second report.
  expect(segFiles(root)).not.toContain('00000001.seg');
  const next = await reopen(root);
  expect(next.ids.sort()).toEqual(['F1', 'F3']);
  expect(next.reports).toEqual([]);
  for (const id of next.ids) expect((await next.spool.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await next.spool.close();
});

test('a flipped bit in a length field: the scan resyncs on the next record', async () => {
  const root = tempRoot();
  await spoolOf(root, ['L1', 'L2', 'L3', 'L4']);
  const file = join(root, 'seg', segFiles(root)[0] as string);
  const offsets = recordOffsets(file);
  const buf = readFileSync(file);
  const at = (offsets[1] as number) + 13;
  buf.writeUInt8(buf.readUInt8(at) ^ 0x40, at); // L2's body length, now far past the end of the file
  writeFileSync(file, buf);

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['L1', 'L3', 'L4']);
  expect(reports).toEqual([[`00000001-${offsets[1]}.bad`, 'corrupt record header']]);
  await spool.close();
});

test('a damaged first header copy: the second copy still opens the segment', async () => {
  const root = tempRoot();
  await spoolOf(root, ['H1', 'H2']);
  const file = join(root, 'seg', segFiles(root)[0] as string);
  const buf = readFileSync(file);
  buf.writeUInt8(buf.readUInt8(20) ^ 0xff, 20); // inside the first copy's key
  writeFileSync(file, buf);
  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['H1', 'H2']);
  expect(reports).toEqual([]);
  await spool.close();
});

test('a record-shaped message body is not taken for a record when the scan resyncs', async () => {
  const root = tempRoot();
  // A sender who knows the format puts a complete record (their own key) into a body.
  const forged = Buffer.concat(encodeRecord(randomBytes(32), Buffer.from(JSON.stringify(envelope('EVIL'))), Buffer.from('spam')));
  const bodies = await spoolOf(root, ['S1', 'S2', 'S3'], (id) => (id === 'S2' ? Buffer.concat([randomBytes(100), forged, randomBytes(100)]) : randomBytes(500)));
  const file = join(root, 'seg', segFiles(root)[0] as string);
  const offsets = recordOffsets(file);
  const buf = readFileSync(file);
  const at = (offsets[1] as number) + 3;
  buf.writeUInt8(buf.readUInt8(at) ^ 0x01, at); // S2's magic: the scan resyncs through its body
  writeFileSync(file, buf);

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['S1', 'S3']);
  expect(reports.map(([f]) => f)).toEqual([`00000001-${offsets[1]}.bad`]);
  expect((await spool.readBody('S3')).equals(bodies.get('S3') as Buffer)).toBe(true);
  await spool.close();
});

test('a message found in two segments (compaction cut short by a crash) comes back once', async () => {
  const root = tempRoot();
  const bodies = await spoolOf(root, ['D1', 'D2', 'D3']);
  // As if compaction had re-committed every record of segment 1 into segment 2 and died
  // before unlinking segment 1.
  copyFileSync(join(root, 'seg/00000001.seg'), join(root, 'seg/00000002.seg'));

  const { spool, ids, reports } = await reopen(root);
  expect(ids.sort()).toEqual(['D1', 'D2', 'D3']);
  expect(reports).toEqual([]);
  expect(segFiles(root)).not.toContain('00000001.seg');
  await spool.remove('D2');
  await spool.close();

  const next = await reopen(root);
  expect(next.ids.sort()).toEqual(['D1', 'D3']);
  for (const id of next.ids) expect((await next.spool.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await next.spool.close();
});
