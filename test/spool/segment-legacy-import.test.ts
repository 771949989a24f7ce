/**
 * A data dir spooled by DiskSpool (msg/*.msg) opened by the segment spool: every message
 * and its journal facts move into segments, corrupt files are quarantined and reported as
 * DiskSpool reports them, and msg/ is gone afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { DiskSpool } from '../../gateway/spool/disk-spool.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function envelope(id: string, rcpts: string[]): Envelope {
  return { id, mailFrom: 'app@example.com', rcpts, receivedAt: 1_780_000_000_000, class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false };
}

test('messages spooled by DiskSpool move into segments with their journal facts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-seg-legacy-'));
  dirs.push(dir);
  const root = join(dir, 'spool');
  const disk = await DiskSpool.open(root);
  const bodies = new Map([
    ['OLD1', randomBytes(4_000)],
    ['OLD2', randomBytes(9_000)],
    ['BROKEN', randomBytes(1_000)],
  ]);
  for (const [id, b] of bodies) await disk.commit(envelope(id, ['a@x.test', 'b@x.test']), b);
  disk.record('OLD1', 'a@x.test', 'delivered');
  disk.record('OLD1', 'b@x.test', { attempts: 4 });
  await disk.close();
  await new Promise((r) => setTimeout(r, 50)); // DiskSpool's journal appends are not awaited by close()
  const broken = readFileSync(join(root, 'msg/BROKEN.msg'));
  broken.writeUInt8(broken.readUInt8(broken.length - 10) ^ 0x01, broken.length - 10);
  writeFileSync(join(root, 'msg/BROKEN.msg'), broken);

  const spool = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  const reports: [string, string][] = [];
  const found = await recoverAll(spool, (file, reason) => reports.push([file, reason]));
  expect(found.map((m) => m.envelope.id).sort()).toEqual(['OLD1', 'OLD2']);
  expect(reports).toEqual([['BROKEN.msg', 'checksum mismatch']]);
  const old1 = found.find((m) => m.envelope.id === 'OLD1');
  expect(Object.fromEntries(old1?.done ?? [])).toEqual({ 'a@x.test': 'delivered' });
  expect(Object.fromEntries(old1?.attempts ?? [])).toEqual({ 'b@x.test': 4 });
  for (const id of ['OLD1', 'OLD2']) expect((await spool.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await spool.close();
  expect(existsSync(join(root, 'msg'))).toBe(false);
  expect(readdirSync(join(root, 'quarantine'))).toEqual(['BROKEN.msg']);

  // From now on they live in segments only.
  const again = await SegmentSpool.open(root, { compactEveryMs: 0, cacheBytes: 0 });
  const next = await recoverAll(again, () => undefined);
  expect(next.map((m) => m.envelope.id).sort()).toEqual(['OLD1', 'OLD2']);
  expect(next.find((m) => m.envelope.id === 'OLD1')?.attempts.get('b@x.test')).toBe(4);
  for (const id of ['OLD1', 'OLD2']) expect((await again.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
  await again.close();
});
