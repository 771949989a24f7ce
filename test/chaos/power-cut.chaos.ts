// Power cuts, approximated: the data dir is copied at random moments while the node
// takes mail and delivers (a copy made mid-write holds what a cut would leave: torn
// records, half a journal line). A node started on each copy delivers every message
// that got its 250 before the copy began and had not reached the MX by the time it
// ended; torn entries are quarantined and reported.
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { between, deliveries, events, figures, MESSAGES, newStats, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const CUTS = 4;

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
  const cuts: { copy: string; ackedBefore: Set<number>; deliveredByEnd: Set<number> }[] = [];
  for (let i = 0; i < CUTS && !done; i++) {
    await sleep(between(1_000, 5_000));
    const copy = join(dir, `cut${i}`);
    const ackedBefore = new Set(current.acked);
    cpSync(join(dir, 'data'), join(copy, 'data'), { recursive: true });
    cuts.push({ copy, ackedBefore, deliveredByEnd: new Set(deliveries(mx).unique) });
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
    await mx2.waitUntil(() => expected.every((id) => deliveries(mx2).unique.has(id)), 90_000).catch(() => undefined);
    const d = deliveries(mx2);
    const lost = expected.filter((id) => !d.unique.has(id));
    const damage = [...events(n2, 'spool_quarantined'), ...events(n2, 'journal_garbage')];
    results.push({
      cut: i,
      acknowledged_before_cut: cut.ackedBefore.size,
      still_queued_at_cut: expected.length,
      delivered_from_copy: d.unique.size,
      lost: lost.length,
      damage_reported: damage.map((e) => `${e['where']}@${e['offset']}+${e['length']}: ${e['reason']}`),
    });
    n2.child.kill('SIGKILL');
    await n2.exited();
    await mx2.close();
    expect(lost, `cut ${i}`).toEqual([]);
  }
  figures('power-cut', { cuts: results });
  expect(results.length).toBeGreaterThan(0);
});
