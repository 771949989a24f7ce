// Power cuts on a real file system: the node's data_dir lives on an ext4 image mounted
// through a loop device; at random moments while the node takes mail and delivers, the
// IMAGE FILE is copied. The copy holds what reached the block device (what the node
// fsynced, plus whatever writeback happened to flush), not the page cache: what a power
// cut leaves. Each copy is checked as a boot would (`e2fsck -fy`, journal replay),
// mounted read-write elsewhere, and a fresh node started on it must deliver every
// message that got its 250 before the copy began and had not reached the MX by the time
// it ended. Torn entries must be quarantined and reported; their count is recorded (it
// may be 0: group commit acknowledges only synced records, so a copy need not hold any).
// Root only (mount). CHAOS_MESSAGES sizes the run (default here 5000).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { tempDir, type CliNode } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { between, deliveries, events, figures, newStats, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';
import { LoopImages } from './support/loop-image.js';

const TOTAL = Number(process.env['CHAOS_MESSAGES'] ?? 5_000);
const CUTS = 3;
/** Bound of the whole ingest: past it the client stops and the cuts taken so far are checked. */
const INGEST_MS = 8 * 60_000;

const loops = new LoopImages();
const cleanups: (() => unknown)[] = [];
let workDir: string | null = null;
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  const problems = loops.release();
  if (problems.length > 0) console.error(`power-cut-ext4 cleanup: ${problems.join('; ')}`);
  // The images take ~100 MB each; removed only once nothing is mounted under the dir any more.
  else if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface Cut {
  readonly img: string;
  readonly ackedBefore: Set<number>;
  readonly deliveredByEnd: Set<number>;
  readonly copySeconds: number;
}

/** Damage the node reported on a copy: quarantine and loss events, journal garbage, and any other line that says "torn". */
function damageReport(node: CliNode): { quarantined: number; records_lost: number; journal_garbage: number; torn_lines: number; reasons: string[] } {
  const q = events(node, 'spool_quarantined');
  const g = events(node, 'journal_garbage');
  return {
    quarantined: q.length,
    records_lost: events(node, 'spool_record_lost').length,
    journal_garbage: g.length,
    torn_lines: node.output().split('\n').filter((l) => /torn/i.test(l)).length,
    reasons: [...q, ...g].map((e) => `${e['where']}@${e['offset']}+${e['length']}: ${e['reason']}`),
  };
}

/** Waits until every id in `expected` reached `got()`, or nothing new arrived for 30 s (then it is lost, not slow). */
async function drain(expected: number[], got: () => Set<number>): Promise<number> {
  const t0 = Date.now();
  for (let seen = -1, since = Date.now(); Date.now() - t0 < 300_000; await sleep(1_000)) {
    const have = got();
    if (expected.every((id) => have.has(id))) break;
    if (have.size !== seen) [seen, since] = [have.size, Date.now()];
    else if (Date.now() - since > 30_000) break;
  }
  return Math.round((Date.now() - t0) / 1000);
}

async function checkCut(dir: string, i: number, cut: Cut) {
  const fsck = loops.fsck(cut.img);
  const mnt = join(dir, `mnt-cut${i}`);
  await loops.mount(cut.img, mnt);
  const mx = await startTestMx({ host: '127.0.0.47' });
  cleanups.push(() => mx.close());
  const node = startNode(dir, nodeConfig(join(mnt, 'data'), await freePort(), mx.address), `cut${i}.toml`);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);
  const expected = [...cut.ackedBefore].filter((id) => !cut.deliveredByEnd.has(id));
  const seconds = await drain(expected, () => deliveries(mx).unique);
  const lost = expected.filter((id) => !deliveries(mx).unique.has(id));
  const damage = damageReport(node);
  node.child.kill('SIGKILL');
  await node.exited();
  await mx.close();
  return {
    cut: i,
    copy_seconds: cut.copySeconds,
    e2fsck_exit: fsck.code,
    e2fsck_summary: fsck.output.split('\n').filter((l) => /recover|journal|clean|files,|FILE SYSTEM WAS MODIFIED/i.test(l)).slice(0, 4),
    acknowledged_before_cut: cut.ackedBefore.size,
    still_queued_at_cut: expected.length,
    delivered_from_copy: deliveries(mx).unique.size,
    seconds_to_deliver: seconds,
    lost: lost.length,
    lost_ids: lost.slice(0, 20),
    damage,
    ...(lost.length > 0 ? { last_lines: node.output().split('\n').slice(-8) } : {}),
  };
}

test(`${CUTS} power cuts (copies of a loop-mounted ext4 image mid-run) under ${TOTAL} messages`, async () => {
  const dir = tempDir('sluice-chaos-ext4-');
  workDir = dir;
  const img = join(dir, 'spool.img');
  await loops.make(img, '256M');
  const mnt = join(dir, 'mnt');
  await loops.mount(img, mnt);
  mkdirSync(join(mnt, 'data'));

  const mx = await startTestMx({ host: '127.0.0.46' });
  cleanups.push(() => mx.close());
  // The MX takes its time, so that mail is queued when a copy is taken.
  mx.configure({ onData: () => sleep(30).then(() => null) });
  const port = await freePort();
  const node = startNode(dir, nodeConfig(join(mnt, 'data'), port, mx.address));
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);

  const started = Date.now();
  let done = false;
  const current = newStats();
  // 20 kB bodies: more writes in flight when a copy is taken.
  const body = (id: number) => `From: <app@chaos.example.com>\r\nSubject: chaos ${id}\r\nMessage-ID: <${id}@chaos.example.com>\r\n\r\n${'z'.repeat(78)}\r\n`.repeat(250);
  const stop = () => Date.now() - started > INGEST_MS;
  const sending = sendAll(port, Array.from({ length: TOTAL }, (_, i) => i), { concurrency: 8, stats: current, body, stop });
  void sending.finally(() => (done = true));
  const cuts: Cut[] = [];
  for (let i = 0; i < CUTS && !done; i++) {
    await sleep(between(1_000, 5_000));
    const copy = join(dir, `cut${i}.img`);
    const ackedBefore = new Set(current.acked);
    const t0 = Date.now();
    await loops.copy(img, copy);
    cuts.push({ img: copy, ackedBefore, deliveredByEnd: new Set(deliveries(mx).unique), copySeconds: (Date.now() - t0) / 1000 });
  }
  await sending;
  const ingestSeconds = Math.round((Date.now() - started) / 1000);
  node.child.kill('SIGTERM');
  await node.exited();

  const results = [];
  for (const [i, cut] of cuts.entries()) {
    const r = await checkCut(dir, i, cut);
    results.push(r);
    if (r.lost > 0) figures('power-cut-ext4', { messages: TOTAL, acknowledged: current.acked.size, ingest_seconds: ingestSeconds, cuts: results });
    expect(r.lost_ids, `cut ${i}: acknowledged before the cut and lost`).toEqual([]);
    expect(r.e2fsck_exit, `cut ${i}: e2fsck left errors`).toBeLessThan(4);
    // Whatever the node found torn it must both quarantine and log (not one without the other).
    if (r.damage.torn_lines > 0) expect(r.damage.quarantined + r.damage.journal_garbage, `cut ${i}: torn entry reported`).toBeGreaterThan(0);
  }
  figures('power-cut-ext4', { messages: TOTAL, acknowledged: current.acked.size, ingest_seconds: ingestSeconds, cuts: results });
  expect(cuts.length, 'no cut was taken before the ingest ended').toBe(CUTS);
});
