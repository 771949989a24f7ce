/**
 * Issue 11: a damaged block at the start of a segment (both header copies) costs the
 * records in that block, not the whole segment; a lost record whose envelope survived is
 * reported with it; segments written before the upgrade (v1 records, no key file) still
 * recover.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import { readRecord, recordBytes, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import type { Envelope, SpoolDamage } from '../../gateway/spool/types.js';
import { recoverAll, spoolEnvelope, tempRoots } from '../support/spool.js';

const tempRoot = tempRoots('sluice-seg-start-');

const envelope = (id: string): Envelope => spoolEnvelope(id, { mailFrom: `sender-${id.toLowerCase()}@example.com`, messageId: `<${id}@example.com>` });

const open = (root: string) => SegmentSpool.open(root, { compactEveryMs: 0 });
const seg1 = (root: string) => join(root, 'seg/00000001.seg');

async function spoolOf(root: string, ids: string[]): Promise<void> {
  const spool = await open(root);
  await recoverAll(spool, () => undefined);
  for (const id of ids) await spool.commit(envelope(id), randomBytes(3_000));
  await spool.close();
}

function offsetsOf(file: string, key: Buffer): Map<number, string> {
  const buf = readFileSync(file);
  const out = new Map<number, string>();
  for (let at = SEGMENT_HEADER_BYTES; at < buf.length; ) {
    const rec = readRecord(buf, at, key);
    if (typeof rec === 'string') throw new Error(`damage at ${at}: ${rec}`);
    out.set(at, (JSON.parse(rec.meta.toString()) as Envelope).id);
    at += recordBytes(rec.metaLength, rec.bodyLength);
  }
  return out;
}

async function reopen(root: string) {
  const spool = await open(root);
  const reports: { file: string; reason: string; damage: SpoolDamage | undefined }[] = [];
  const found = await recoverAll(spool, (file, reason, damage) => reports.push({ file, reason, damage }));
  return { spool, ids: found.map((m) => m.envelope.id), reports };
}

test('zeroing the first 4 KB of a 200-message segment loses only the records that started there', async () => {
  const root = tempRoot();
  const ids = Array.from({ length: 200 }, (_, i) => `Z${String(i).padStart(3, '0')}`);
  await spoolOf(root, ids);
  const whole = readFileSync(seg1(root));
  const offsets = offsetsOf(seg1(root), whole.subarray(8, 40));
  whole.fill(0, 0, 4096);
  writeFileSync(seg1(root), whole);

  const { spool, ids: back, reports } = await reopen(root);
  const survivors = [...offsets].filter(([at]) => at >= 4096).map(([, id]) => id);
  expect(survivors.length).toBeGreaterThanOrEqual(197);
  expect(back).toEqual(survivors);
  for (const id of survivors) expect((await spool.readBody(id)).length).toBe(3_000);
  expect(reports.map((r) => r.reason)).toEqual(['segment header corrupt; key read from 00000001.key', 'no record magic']);
  expect(reports[1]?.damage).toMatchObject({ where: 'seg/00000001.seg', offset: SEGMENT_HEADER_BYTES, quarantined: `00000001-${SEGMENT_HEADER_BYTES}.bad` });
  await spool.close();
  // The survivors moved to a sound segment: the next start reports nothing.
  const next = await reopen(root);
  expect(next.ids.sort()).toEqual([...survivors].sort());
  expect(next.reports).toEqual([]);
  await next.spool.close();
});

test('a lost record whose envelope survived is reported with its queue id, sender and Message-ID, once', async () => {
  const root = tempRoot();
  await spoolOf(root, ['B1', 'B2', 'B3']);
  const buf = readFileSync(seg1(root));
  const [, second] = [...offsetsOf(seg1(root), buf.subarray(8, 40)).keys()] as [number, number];
  buf[second + 1_500] ^= 0x10; // inside B2's body
  writeFileSync(seg1(root), buf);

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['B1', 'B3']);
  expect(reports.map((r) => r.reason)).toEqual(['checksum mismatch']);
  const lost = reports[0]?.damage?.lost ?? [];
  expect(lost.map((m) => [m.envelope.id, m.envelope.mailFrom, m.envelope.messageId])).toEqual([['B2', 'sender-b2@example.com', '<B2@example.com>']]);
  await spool.close();

  const next = await reopen(root);
  expect(next.reports).toEqual([]);
  await next.spool.close();
});

/** A segment as the build before issue 11 wrote it: v1 records, the key in the header only. */
function legacySegment(key: Buffer, envelopes: Envelope[]): Buffer {
  const magic = Buffer.from('SLUSEG1\n', 'latin1');
  const copy = Buffer.concat([magic, key, createHash('sha256').update(magic).update(key).digest().subarray(0, 4)]);
  const parts = [copy, copy];
  for (const e of envelopes) {
    const meta = Buffer.from(JSON.stringify(e));
    const body = Buffer.from(`Subject: ${e.id}\r\n\r\nold spool\r\n`);
    const head = Buffer.alloc(52);
    Buffer.from([0x89, 0x53, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head);
    head.writeUInt32BE(meta.length, 8);
    head.writeUInt32BE(body.length, 12);
    head.writeUInt32BE(legacyHeadCheck(key, meta.length, body.length), 16);
    createHmac('sha256', key).update(head.subarray(8, 16)).update(meta).update(body).digest().copy(head, 20);
    parts.push(head, meta, body);
  }
  return Buffer.concat(parts);
}

function legacyHeadCheck(key: Buffer, metaLength: number, bodyLength: number): number {
  const fmix = (h: number) => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  return fmix(metaLength ^ fmix(bodyLength ^ key.readUInt32BE(0))) >>> 0;
}

test('segments written before the upgrade recover, also one whose header is gone (key of its sibling)', async () => {
  const root = tempRoot();
  mkdirSync(join(root, 'seg'), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(join(root, 'seg/00000001.seg'), legacySegment(key, [envelope('OLD1'), envelope('OLD2')]));
  const damaged = legacySegment(key, [envelope('OLD3'), envelope('OLD4')]);
  damaged.fill(0, 0, SEGMENT_HEADER_BYTES);
  writeFileSync(join(root, 'seg/00000002.seg'), damaged);

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual(['OLD1', 'OLD2', 'OLD3', 'OLD4']);
  expect((await spool.readBody('OLD4')).toString()).toBe('Subject: OLD4\r\n\r\nold spool\r\n');
  expect(reports.map((r) => [r.damage?.where, r.reason])).toEqual([['seg/00000002.seg', "segment header corrupt; key read from another segment's header"]]);
  // The old segment that stays got a key file of its own.
  expect(readdirSync(join(root, 'seg'))).toContain('00000001.key');
  // New mail after the upgrade goes into a new (v2) segment with a key file.
  await spool.commit(envelope('NEW1'), Buffer.from('new'));
  await spool.close();
  expect(readdirSync(join(root, 'seg')).filter((f) => f.endsWith('.key')).length).toBeGreaterThan(0);

  const next = await reopen(root);
  expect(next.ids.sort()).toEqual(['NEW1', 'OLD1', 'OLD2', 'OLD3', 'OLD4']);
  expect((await next.spool.readBody('NEW1')).toString()).toBe('new');
  await next.spool.close();
});

test('a segment whose header and key file are both gone, with no sibling key, is quarantined whole and its envelopes named', async () => {
  const root = tempRoot();
  await spoolOf(root, ['K1', 'K2']);
  const buf = readFileSync(seg1(root));
  buf.fill(0, 0, SEGMENT_HEADER_BYTES);
  writeFileSync(seg1(root), buf);
  unlinkSync(join(root, 'seg/00000001.key'));

  const { spool, ids, reports } = await reopen(root);
  expect(ids).toEqual([]);
  expect(reports).toHaveLength(1);
  expect(reports[0]?.damage?.quarantined).toBe('00000001-0.bad');
  expect(reports[0]?.damage?.unchecked.map((u) => [u.id, u.mailFrom])).toEqual([
    ['K1', 'sender-k1@example.com'],
    ['K2', 'sender-k2@example.com'],
  ]);
  await spool.close();
});

test('garbage in the journal is reported with its offset, length and first bytes; the facts around it still count', async () => {
  const root = tempRoot();
  const spool = await open(root);
  await recoverAll(spool, () => undefined);
  for (const id of ['J1', 'J2', 'J3']) await spool.commit(envelope(id), Buffer.from(`body ${id}`));
  await spool.remove('J1');
  for (let i = 0; i < 50; i++) spool.record('J2', 'j2@example.net', { attempts: i + 1 });
  await spool.remove('J3');
  await spool.close();
  const path = join(root, 'journal.log');
  const buf = readFileSync(path);
  const first = buf.indexOf('\n') + 1; // keep J1's done line
  buf.fill(0, first + 10, first + 200);
  writeFileSync(path, buf);

  const { spool: again, ids, reports } = await reopen(root);
  expect(ids).toEqual(['J2']); // J1 and J3 stay removed: their done lines are outside the block
  const journal = reports.filter((r) => r.damage?.where === 'journal.log');
  expect(journal).toHaveLength(1);
  expect(journal[0]?.damage).toMatchObject({ offset: first, quarantined: null });
  expect(journal[0]?.damage?.length).toBeGreaterThanOrEqual(190);
  expect(journal[0]?.reason).toMatch(/^journal: \d+ bytes skipped, not facts \(they began "\{"id":"J2".*\\x00/);
  await again.close();
});
