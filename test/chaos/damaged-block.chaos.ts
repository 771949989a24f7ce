// A 4 kB block zeroed at the start, middle and end of a spool segment and of the journal
// (a bad sector, a torn page). Segment: only the records that touch the block are lost,
// each one named in the log, and the sender of each whose envelope survived gets a DSN.
// Journal: nothing queued is lost; facts in the block are (their messages may be sent
// again: counted as duplicates), and the skipped bytes are logged.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { tempDir } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { readRecord, recordBytes, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import { deliveries, events, figures, idOf, kill9, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const BLOCK = 4096;
const QUEUED = 200;
const DELIVERED_FIRST = 100;

/** Record extents of a sound segment file: [start, end) and the id of the message. */
function extents(file: string): { from: number; to: number; id: number }[] {
  const buf = readFileSync(file);
  const key = buf.subarray(8, 40);
  const out = [];
  for (let at = SEGMENT_HEADER_BYTES; at < buf.length; ) {
    const rec = readRecord(buf, at, key);
    if (typeof rec === 'string') break;
    const env = JSON.parse(rec.meta.toString()) as { rcpts: string[] };
    const to = at + recordBytes(rec.metaLength, rec.bodyLength);
    out.push({ from: at, to, id: idOf(env.rcpts[0] as string) });
    at = to;
  }
  return out;
}

async function settle(mx: TestMx, until: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !until()) await sleep(250);
  await sleep(2_000); // stragglers, DSNs
}

test('a zeroed block at the start, middle and end of a segment and of the journal', async () => {
  const dir = tempDir('sluice-chaos-damage-');
  // A spool as a crash leaves it: 100 messages delivered (journal facts), 200 queued (MX gone).
  const mx = await startTestMx({ host: '127.0.0.43' });
  cleanups.push(() => mx.close());
  const port = await freePort();
  const node = startNode(dir, nodeConfig(`${dir}/data`, port, mx.address));
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);
  const body = (id: number) => `From: <app@chaos.example.com>\r\nSubject: chaos ${id}\r\nMessage-ID: <${id}@chaos.example.com>\r\n\r\n${'y'.repeat(76)}\r\n`.repeat(40);
  await sendAll(port, Array.from({ length: DELIVERED_FIRST }, (_, i) => i), { body });
  await mx.waitUntil(() => deliveries(mx).unique.size >= DELIVERED_FIRST, 60_000);
  await mx.down();
  const queued = Array.from({ length: QUEUED }, (_, i) => DELIVERED_FIRST + i);
  const sent = await sendAll(port, queued, { body });
  await sleep(3_000); // a few attempts recorded
  await kill9(node);
  expect(sent.acked.size).toBe(QUEUED);

  const results: Record<string, unknown> = {};
  const segName = readdirSync(join(dir, 'data/spool/seg')).filter((f) => f.endsWith('.seg')).sort()[0] as string;
  const segSize = readFileSync(join(dir, 'data/spool/seg', segName)).length;
  const journalSize = readFileSync(join(dir, 'data/spool/journal.log')).length;
  const cases: [string, string, number][] = [
    ['segment_start', `seg/${segName}`, 0],
    ['segment_middle', `seg/${segName}`, Math.floor(segSize / 2)],
    ['segment_end', `seg/${segName}`, segSize - BLOCK],
    ['journal_start', 'journal.log', 0],
    ['journal_middle', 'journal.log', Math.floor(journalSize / 2)],
    ['journal_end', 'journal.log', Math.max(0, journalSize - BLOCK)],
  ];
  for (const [name, file, at] of cases) {
    const copy = join(dir, name);
    cpSync(join(dir, 'data'), join(copy, 'data'), { recursive: true });
    const path = join(copy, 'data/spool', file);
    const hit = file.startsWith('seg/') ? extents(path).filter((r) => r.from < at + BLOCK && r.to > at && r.id >= DELIVERED_FIRST) : [];
    const buf = readFileSync(path);
    buf.fill(0, at, Math.min(buf.length, at + BLOCK));
    writeFileSync(path, buf);

    const mx2 = await startTestMx({ host: '127.0.0.44' });
    const n2 = startNode(copy, nodeConfig(`${copy}/data`, await freePort(), mx2.address));
    await n2.waitFor('started', 60_000);
    const expected = queued.filter((id) => !hit.some((h) => h.id === id));
    await settle(mx2, () => expected.every((id) => deliveries(mx2).unique.has(id)), 60_000);
    const d = deliveries(mx2);
    const lostIds = events(n2, 'spool_record_lost').map((e) => e['queue_id']);
    const dsns = mx2.messages.filter((m) => m.mailFrom === '').length;
    const missing = expected.filter((id) => !d.unique.has(id));
    results[name] = {
      offset: at,
      records_touching_block: hit.length,
      delivered: d.unique.size,
      missing_intact: missing.length,
      redelivered_already_delivered: [...d.unique].filter((id) => id < DELIVERED_FIRST).length,
      lost_named: lostIds.length,
      dsns,
      damage_lines: [...events(n2, 'spool_quarantined'), ...events(n2, 'journal_garbage')].map((e) => ({ where: e['where'], offset: e['offset'], length: e['length'], lost: e['lost'] })),
    };
    expect(missing, name).toEqual([]);
    if (file.startsWith('seg/')) {
      // Every record the block touched whose envelope is outside it is named, with a DSN.
      expect(lostIds.length + events(n2, 'spool_quarantined').length, name).toBeGreaterThan(0);
      expect(dsns, name).toBe(events(n2, 'spool_record_lost').filter((e) => e['dsn'] === true).length);
    } else {
      expect(events(n2, 'journal_garbage').length, name).toBeGreaterThan(0);
    }
    n2.child.kill('SIGKILL');
    await n2.exited();
    await mx2.close();
  }
  figures('damaged-block', results);
});
