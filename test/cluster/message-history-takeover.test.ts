// GET /api/messages/ID for a message taken over from a replica (issue 17, replicas = 2):
// three node processes on one private Redis. n2 accepts a message while its pool is paused,
// with a copy on a peer, and is killed with SIGKILL; the peer takes it over and delivers it.
// Asked on a survivor, its life reads: the copy kept on the peer, the peer's own copy on
// the third node, accepted from n2 by takeover, delivered there (n2,
// down, is not a live node and is not waited for). Once n2 is back, its own accept shows
// first (written to its event log before the kill).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FLEET_TOKEN, startFleet, waitUntil, type Fleet, type FleetNode } from '../support/fleet.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let fleet: Fleet;
let mx: TestMx;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.187' });
  fleet = await startFleet({
    nodes: 3,
    heartbeat: '250ms',
    failoverAfter: '2s',
    clusterListener: true,
    clusterLines: 'secret = "history-takeover-secret-0123456789"\nreplicas = 2',
    shared: `[dns.static]
"*" = "${mx.address}"
[queue]
retry = ["1s"]
[events]
file = "\${DIR}/events.log"
[sources.a]
ip = "127.0.0.188"
ehlo = "a.fleet.test"
node = "n1"
[sources.b]
ip = "127.0.0.189"
ehlo = "b.fleet.test"
node = "n2"
[sources.c]
ip = "127.0.0.190"
ehlo = "c.fleet.test"
node = "n3"
[pools.transactional]
sources = ["a", "b", "c"]
`,
  });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

type Step = Record<string, unknown> & { event: string; node: string; queue_id: string };

async function history(n: FleetNode, id: string): Promise<{ events: Step[]; nodes: string[]; errors?: unknown }> {
  const res = await fetch(`http://127.0.0.1:${n.ports.admin}/api/messages/${id}`, { headers: { authorization: `Bearer ${FLEET_TOKEN}` }, signal: AbortSignal.timeout(20_000) });
  expect(res.status).toBe(200);
  return (await res.json()) as { events: Step[]; nodes: string[]; errors?: unknown };
}

test('a message taken over from a killed node: the takeover and the delivery, then its accept once the node is back', async () => {
  await fleet.converged();
  const [n1, n2, n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  expect((await n2.api('/api/pools/transactional/pause', { method: 'POST', body: { reason: 'test' } })).status).toBe(200);
  const c = await RawSmtp.open(n2.ports.smtp);
  await c.read();
  await c.cmd('EHLO app.test');
  const reply = await c.send('app@sender.test', ['tia@dest.test'], message({ to: 'tia@dest.test', subject: 'taken-1' }));
  c.close();
  expect(reply?.code).toBe(250);
  const id = /queued as (\S+)/.exec(reply?.text ?? '')?.[1] ?? '';
  expect(id).not.toBe('');

  // The event log is written in the background (a kill -9 may lose its last lines): killed once n2 has its accept on file.
  // Its copy was kept on a peer before n2's 250: that step shows first.
  const before = (await history(n2, id)).events;
  const holder = String(before[0]?.node);
  expect(before.map((e) => `${e.node} ${e.event}`)).toEqual([`${holder} replica_kept`, 'n2 queued']);
  expect(before[0]).toMatchObject({ queue_id: id, origin: 'n2', recipients: 1 });
  await n2.kill9();
  expect((await n1.api('/api/pools/transactional/resume', { method: 'POST', body: {} })).status).toBe(200);
  await waitUntil('the message delivered without n2', () => mx.messages.some((m) => m.raw.toString().includes('Subject: taken-1')), 30_000, 200);
  const taker = [n1, n3].find((n) => n.events('replica_taken_over').some((e) => e['queue_id'] === id));
  expect(taker).toBeDefined();
  const other = taker === n1 ? n3 : n1;
  // The peer that kept the copy is the one that took it over.
  expect(taker?.id).toBe(holder);

  const h = await waitUntil('the delivery in the history', async () => {
    const x = await history(other, id);
    return x.events.some((e) => e.event === 'delivered') ? x : null;
  }, 10_000);
  // Taken over, the message is the taker's: its commit copies it to the other live peer.
  expect(h.events.map((e) => `${e.node} ${e.event}`)).toEqual([`${holder} replica_kept`, `${other.id} replica_kept`, `${taker?.id} queued`, `${taker?.id} delivered`]);
  expect(h.events[1]).toMatchObject({ queue_id: id, origin: taker?.id });
  expect(h.events[2]).toMatchObject({ queue_id: id, recipient: 'tia@dest.test', peer: { how: 'takeover', from: 'n2', queue_id: id, origin: 'n2', hops: 1 } });
  expect(h.events[3]).toMatchObject({ queue_id: id, source: taker === n1 ? 'a' : 'c' });
  expect(h.nodes).toEqual(['n1', 'n3']);
  expect(h.errors).toBeUndefined();

  await n2.start();
  await fleet.converged();
  const back = await history(other, id);
  expect(back.events.map((e) => `${e.node} ${e.event}`)).toEqual([`${holder} replica_kept`, 'n2 queued', `${other.id} replica_kept`, `${taker?.id} queued`, `${taker?.id} delivered`]);
  expect(back.nodes).toEqual(['n1', 'n2', 'n3']);
}, 90_000);
