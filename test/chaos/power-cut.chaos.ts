// Power cuts, approximated: the data dir is copied at random moments while the node
// takes mail and delivers (a copy made mid-write holds what a cut would leave: torn
// records, half a journal line). A node started on each copy delivers every message
// that got its 250 before the copy began and had not reached the MX by the time it
// ended; torn entries are quarantined and reported. Because a copy rarely catches a
// write half done, the records after the last acknowledged one in each copy (which a
// cut may leave unsynced) also get a hole or lose their end, as a cut would leave them.
import { cpSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRecord, recordBytes, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import { afterAll, expect, test } from 'vitest';
import { tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { between, deliveries, events, figures, idOf, MESSAGES, newStats, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const CUTS = 4;

/**
 * What a cut does to writes not yet synced, made explicit: records after the last one
 * acknowledged before the copy (so maybe not synced, by group commit) get a 512-byte
 * hole or lose their end, as pages the disk never wrote would leave them. Returns how
 * many records were torn.
 */
function tearUnsyncedTail(spoolDir: string, ackedBefore: Set<number>): number {
  const segDir = join(spoolDir, 'seg');
  const name = readdirSync(segDir).filter((f) => f.endsWith('.seg')).sort().pop();
  if (!name) return 0;
  const path = join(segDir, name);
  const buf = readFileSync(path);
  if (buf.length < SEGMENT_HEADER_BYTES) return 0;
  const key = buf.subarray(8, 40);
  const recs: { from: number; to: number; id: number }[] = [];
  for (let at = SEGMENT_HEADER_BYTES; at < buf.length; ) {
    const rec = readRecord(buf, at, key);
    if (typeof rec === 'string') break;
    const env = JSON.parse(rec.meta.toString()) as { rcpts: string[] };
    const to = at + recordBytes(rec.metaLength, rec.bodyLength);
    recs.push({ from: at, to, id: idOf(env.rcpts[0] as string) });
    at = to;
  }
  let lastAcked = -1;
  recs.forEach((r, i) => {
    if (ackedBefore.has(r.id)) lastAcked = i;
  });
  const tail = recs.slice(lastAcked + 1);
  if (tail.length === 0) return 0;
  const victim = tail[Math.floor(Math.random() * tail.length)] as (typeof tail)[number];
  if (victim === tail[tail.length - 1] && Math.random() < 0.5) {
    truncateSync(path, victim.from + Math.floor((victim.to - victim.from) / 2)); // a torn append
  } else {
    const at = victim.from + Math.floor(Math.random() * (victim.to - victim.from - 512));
    buf.fill(0, at, at + 512); // a page never written
    writeFileSync(path, buf);
  }
  return 1;
}

test(`${CUTS} power cuts (copies of the data dir mid-run) under ${Math.ceil(MESSAGES / 4)} messages`, async () => {
  const dir = tempDir('sluice-chaos-power-');
  const mx = await startTestMx({ host: '127.0.0.45' });
  cleanups.push(() => mx.close());
  // The MX takes its time, so that mail is queued when a copy is taken.
  mx.configure({ onData: () => sleep(30).then(() => null) });
  const port = await freePort();
  const node = startNode(dir, nodeConfig(`${dir}/data`, port, mx.address));
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);

  const total = Math.ceil(MESSAGES / 4);
  let done = false;
  const current = newStats();
  // 20 kB bodies: a copy more often catches a write half done.
  const body = (id: number) => `From: <app@chaos.example.com>\r\nSubject: chaos ${id}\r\nMessage-ID: <${id}@chaos.example.com>\r\n\r\n${'z'.repeat(78)}\r\n`.repeat(250);
  const sending = sendAll(port, Array.from({ length: total }, (_, i) => i), { concurrency: 8, stats: current, body });
  void sending.finally(() => (done = true));
  const cuts: { copy: string; ackedBefore: Set<number>; deliveredByEnd: Set<number>; torn: number }[] = [];
  for (let i = 0; i < CUTS && !done; i++) {
    await sleep(between(1_000, 5_000));
    const copy = join(dir, `cut${i}`);
    const ackedBefore = new Set(current.acked);
    cpSync(join(dir, 'data'), join(copy, 'data'), { recursive: true });
    const torn = tearUnsyncedTail(join(copy, 'data/spool'), ackedBefore);
    cuts.push({ copy, ackedBefore, deliveredByEnd: new Set(deliveries(mx).unique), torn });
  }
  await sending;
  node.child.kill('SIGTERM');
  await node.exited();

  const results = [];
  for (const [i, cut] of cuts.entries()) {
    const mx2 = await startTestMx({ host: '127.0.0.46' });
    const n2 = startNode(cut.copy, nodeConfig(`${cut.copy}/data`, await freePort(), mx2.address));
    await n2.waitFor('started', 60_000);
    const expected = [...cut.ackedBefore].filter((id) => !cut.deliveredByEnd.has(id));
    // Until everything expected arrived, or nothing new arrived for 30 s (then it is lost, not slow).
    const t0 = Date.now();
    for (let seen = -1, since = Date.now(); Date.now() - t0 < 600_000; await sleep(1_000)) {
      const got = deliveries(mx2).unique;
      if (expected.every((id) => got.has(id))) break;
      if (got.size !== seen) [seen, since] = [got.size, Date.now()];
      else if (Date.now() - since > 30_000) break;
    }
    const drainSeconds = Math.round((Date.now() - t0) / 1000);
    const d = deliveries(mx2);
    const lost = expected.filter((id) => !d.unique.has(id));
    const damage = [...events(n2, 'spool_quarantined'), ...events(n2, 'journal_garbage')];
    results.push({
      cut: i,
      acknowledged_before_cut: cut.ackedBefore.size,
      still_queued_at_cut: expected.length,
      delivered_from_copy: d.unique.size,
      unsynced_records_torn: cut.torn,
      seconds_to_deliver: drainSeconds,
      lost: lost.length,
      damage_reported: damage.map((e) => `${e['where']}@${e['offset']}+${e['length']}: ${e['reason']}`),
      ...(lost.length > 0 ? { node_events: countEvents(n2.output()), last_lines: n2.output().split('\n').slice(-5) } : {}),
    });
    n2.child.kill('SIGKILL');
    await n2.exited();
    await mx2.close();
    if (lost.length > 0) figures('power-cut', { cuts: results });
    expect(lost, `cut ${i}`).toEqual([]);
    if (cut.torn > 0) expect(damage.length, `cut ${i}: torn record reported`).toBeGreaterThan(0);
  }
  figures('power-cut', { cuts: results });
  expect(results.length).toBeGreaterThan(0);
});

function countEvents(log: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of log.matchAll(/"event":"([a-z_]+)"/g)) out[m[1] as string] = (out[m[1] as string] ?? 0) + 1;
  return out;
}
