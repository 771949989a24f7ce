// The fleet harness itself: three nodes as processes on one private Redis see each other,
// a node killed with SIGKILL is gone from the others' /api/status once its heartbeat
// lapses, and started again on the same config and data dir it is back.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFleet, waitUntil, type Fleet } from '../support/fleet.js';

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet({ nodes: 3, heartbeat: '300ms', failoverAfter: '2s', shared: '[dns.static]\n"*" = "127.0.0.9:9"\n' });
}, 150_000);
afterAll(async () => {
  await fleet?.stop();
});

test('three nodes see each other; one killed with SIGKILL leaves and comes back on restart', async () => {
  await fleet.converged();
  const [n1, n2, n3] = fleet.nodes as [Fleet['nodes'][0], Fleet['nodes'][0], Fleet['nodes'][0]];
  expect(await fleet.liveSeenBy(n1)).toEqual(['n1', 'n2', 'n3']);
  const s = await n3.status();
  expect(s.node).toBe('n3');
  expect(s.nodes.find((x) => x.self)?.id).toBe('n3');
  expect(readFileSync(n2.configFile, 'utf8')).toContain(`data_dir = "${n2.dir}/data"`);

  const pid = n2.cli?.child.pid;
  await n2.kill9();
  expect(n2.running).toBe(false);
  await waitUntil('n1 and n3 to drop n2', async () => (await fleet.liveSeenBy(n1)).join() === 'n1,n3' && (await fleet.liveSeenBy(n3)).join() === 'n1,n3', 10_000);

  await n2.start();
  expect(n2.cli?.child.pid).not.toBe(pid);
  await fleet.converged();
  expect(n2.events('started')).toHaveLength(2);
});
