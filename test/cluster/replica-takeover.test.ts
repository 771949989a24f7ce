// Replicas (replicas = 2): three nodes as processes on one private Redis, real sockets. Mail
// accepted by n2 while its pool is held (fleet-wide) waits in n2's queue, each message with a
// copy on n1 or n3. n2 is killed with SIGKILL: after failover_after its peers take its mail
// over and deliver all of it through their own sources, without n2. Restarted, n2 drops
// what was taken over (it delivers none of it again) and its replicas of the others' mail
// that became final are dropped.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ONE_SOURCE_PER_NODE, startFleet, waitUntil, type Fleet, type FleetNode } from '../support/fleet.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const COUNT = 40;
let fleet: Fleet;
let mx: TestMx;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.31' });
  fleet = await startFleet({
    nodes: 3,
    heartbeat: '250ms',
    failoverAfter: '2s',
    clusterListener: true,
    clusterLines: 'secret = "replica-test-secret-0123456789"\nreplicas = 2',
    shared: `[dns.static]
"*" = "${mx.address}"
[queue]
retry = ["1s"]
${ONE_SOURCE_PER_NODE}
[pools.transactional]
sources = ["a", "b", "c"]
`,
  });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

async function send(n: FleetNode, i: number): Promise<string> {
  const c = await RawSmtp.open(n.ports.smtp);
  await c.read();
  await c.cmd('EHLO app.test');
  const r = await c.send('app@sender.test', [`r${i}@dest.test`], message({ to: `r${i}@dest.test`, headers: [`Message-ID: <m${i}@sender.test>`] }));
  c.close();
  return `${r?.code} ${r?.text ?? ''}`;
}

const delivered = (i: number) => mx.messages.filter((m) => m.raw.toString().includes(`<m${i}@sender.test>`)).length;

test('a node killed with SIGKILL: its peers deliver its mail from their replicas; back, it sends none of it again', async () => {
  await fleet.converged();
  const [n1, n2, n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  // The pool held: what n2 accepts stays in its queue (a held pool is neither sent nor handed off).
  expect((await n2.api('/api/pools/transactional/hold', { method: 'POST', body: { reason: 'test' } })).status).toBe(200);
  const replies = [];
  for (let i = 0; i < COUNT; i++) replies.push(await send(n2, i));
  expect(replies.every((r) => r.startsWith('250'))).toBe(true);
  const held = async (n: FleetNode) => Number(/sluice_replica_events_total\{event="single_copy"[^}]*\} (\d+)/.exec(String((await n.api('/metrics')).body))?.[1] ?? 0);
  expect(await held(n2)).toBe(0); // every 250 had a copy on a peer
  await new Promise((r) => setTimeout(r, 500));
  expect(mx.messages.length).toBe(0);

  await n2.kill9();
  const killedAt = Date.now();
  // The pool lifted: n1 and n3 now send what they took over from n2.
  expect((await n1.api('/api/pools/transactional/lift', { method: 'POST', body: {} })).status).toBe(200);
  await waitUntil('every message delivered without n2', () => Array.from({ length: COUNT }, (_, i) => delivered(i)).every((n) => n >= 1), 30_000, 200);
  const seconds = (Date.now() - killedAt) / 1000;
  const taken = [...n1.events('replicas_taken_over'), ...n3.events('replicas_taken_over')].reduce((s, e) => s + Number(e.taken), 0);
  expect(taken).toBe(COUNT);
  expect(new Set(mx.messages.map((m) => m.peerIp))).not.toContain('127.0.0.3');
  console.log(`replica takeover: ${COUNT} accepted by n2, all delivered ${seconds.toFixed(1)} s after its SIGKILL (failover_after 2 s)`);

  await n2.start();
  await waitUntil('n2 dropped what was taken over', () => n2.events('replicas_taken_while_down')[0], 15_000);
  expect(n2.events('replicas_taken_while_down')[0]).toMatchObject({ taken: COUNT, dropped: COUNT });
  await new Promise((r) => setTimeout(r, 3_000));
  const dups = Array.from({ length: COUNT }, (_, i) => delivered(i) - 1).reduce((a, b) => a + b, 0);
  expect(dups).toBe(0);
  void n3;
}, 90_000);
