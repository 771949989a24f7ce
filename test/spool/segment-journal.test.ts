/**
 * The segment spool's journal: facts recorded in one tick keep their order (the last one
 * for a recipient wins), close() writes them all, and a torn last line (a crash mid-append)
 * costs only that line.
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { packDeferral, unpackDeferral } from '../../gateway/spool/segment-journal.js';
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

test('facts recorded in one tick keep their order and close() writes them; a torn line costs only itself', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sluice-seg-journal-'));
  dirs.push(root);
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  await spool.commit(envelope('J1', ['a@x.test', 'b@x.test']), Buffer.from('hello'));
  for (let n = 1; n <= 50; n++) spool.record('J1', 'a@x.test', { attempts: n });
  spool.record('J1', 'b@x.test', 'delivered');
  await spool.close();
  appendFileSync(join(root, 'journal.log'), '{"id":"J1","r":"a@x.test","a":9'); // torn by a crash

  const again = await SegmentSpool.open(root, { compactEveryMs: 0 });
  const [m] = await recoverAll(again, () => undefined);
  expect(m?.attempts.get('a@x.test')).toBe(50);
  expect(m?.done.get('b@x.test')).toBe('delivered');
  await again.close();
});

test('a deferral packs attempts and next attempt into one number, never earlier than recorded', () => {
  expect(unpackDeferral(packDeferral(3, 1_800_000_000_001))).toEqual({ attempts: 3, nextAt: 1_800_000_001_000 });
  expect(unpackDeferral(packDeferral(3, 1_800_000_000_000))).toEqual({ attempts: 3, nextAt: 1_800_000_000_000 });
  expect(unpackDeferral(packDeferral(7, undefined))).toEqual({ attempts: 7, nextAt: undefined });
  // Until 2242 the packed value stays an exact integer; attempts beyond 2^20 − 1 are capped.
  const far = Date.parse('2242-01-01T00:00:00Z');
  expect(unpackDeferral(packDeferral(432_000, far))).toEqual({ attempts: 432_000, nextAt: far });
  expect(unpackDeferral(packDeferral(5_000_000, far)).attempts).toBe(2 ** 20 - 1);
});
