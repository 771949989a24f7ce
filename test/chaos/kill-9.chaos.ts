// kill -9 every 2–10 s while a retrying client sends MESSAGES messages: nothing that got
// a 250 is lost; the duplicates (at-least-once, README "Duplicates") are counted.
import { afterAll, expect, test } from 'vitest';
import { tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import type { CliNode } from '../support/gateway.js';
import { between, deliveries, duplicateCauses, figures, kill9, MESSAGES, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`kill -9 every 2-10 s under ${MESSAGES} messages: 0 acknowledged lost`, async () => {
  const dir = tempDir('sluice-chaos-kill-');
  const mx = await startTestMx({ host: '127.0.0.40' });
  cleanups.push(() => mx.close());
  const port = await freePort();
  const toml = nodeConfig(`${dir}/data`, port, mx.address);
  let node: CliNode = startNode(dir, toml);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);

  const ids = Array.from({ length: MESSAGES }, (_, i) => i);
  let done = false;
  const started = Date.now();
  const sending = sendAll(port, ids, { concurrency: 8 }).finally(() => (done = true));
  let kills = 0;
  const restartMs: number[] = [];
  while (!done) {
    const wait = between(2_000, 10_000);
    for (let t = 0; t < wait && !done; t += 100) await sleep(100);
    if (done) break;
    await kill9(node);
    kills++;
    const t0 = Date.now();
    node = startNode(dir, toml);
    await node.waitFor('started', 60_000);
    restartMs.push(Date.now() - t0);
  }
  const stats = await sending;
  const ingestSeconds = (Date.now() - started) / 1000;
  // Everything acknowledged reaches the MX (the node keeps running now).
  await mx.waitUntil(() => deliveries(mx).unique.size >= stats.acked.size, 180_000).catch(() => undefined);
  await sleep(2_000); // late copies still in flight count as duplicates too
  const d = deliveries(mx);
  const lost = [...stats.acked].filter((id) => !d.unique.has(id));
  figures('kill-9', {
    kills,
    acknowledged: stats.acked.size,
    delivered_unique: d.unique.size,
    lost: lost.length,
    duplicates: d.duplicates,
    ...duplicateCauses(mx, stats),
    duplicates_per_10_kills: kills ? Math.round((d.duplicates / kills) * 100) / 10 : 0,
    ingest_seconds: Math.round(ingestSeconds),
    restart_ms_max: Math.max(0, ...restartMs),
    refusals: Object.fromEntries(stats.refusals),
  });
  expect(kills).toBeGreaterThan(0);
  expect(lost).toEqual([]);
  node.child.kill('SIGTERM');
  await node.exited();
});
