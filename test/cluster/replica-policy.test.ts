// Replicas with no live peer (replicas = 2): two nodes as processes on one Redis, each under
// its own key prefix, so each is alone in its fleet. "best-effort" accepts with one copy and
// counts it (sluice_replica_events_total{event="single_copy",reason="no-peer"}); "required"
// answers 451 4.3.0 and keeps nothing (the client sends again; nothing goes out twice).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from '../support/fleet.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let fleet: Fleet;
let mx: TestMx;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.32' });
  fleet = await startFleet({
    nodes: 2,
    heartbeat: '250ms',
    failoverAfter: '2s',
    clusterListener: true,
    clusterLines: (n) => `secret = "replica-test-secret-0123456789"\nreplicas = 2\nkey_prefix = "${n.id}:"\nreplica_policy = "${n.id === 'n1' ? 'best-effort' : 'required'}"`,
    shared: `[dns.static]\n"*" = "${mx.address}"\n[sources.a]\nip = "127.0.0.2"\nehlo = "a.fleet.test"\n[pools.transactional]\nsources = ["a"]\n`,
  });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

async function send(n: FleetNode, tag: string): Promise<string> {
  const c = await RawSmtp.open(n.ports.smtp);
  await c.read();
  await c.cmd('EHLO app.test');
  const r = await c.send('app@sender.test', ['rcpt@dest.test'], message({ to: 'rcpt@dest.test', headers: [`Message-ID: <${tag}@sender.test>`] }));
  c.close();
  return `${r?.code} ${r?.text ?? ''}`;
}

const metric = async (n: FleetNode, event: string) => Number(new RegExp(`sluice_replica_events_total\\{event="${event}",reason="no-peer"\\} (\\d+)`).exec(String((await n.api('/metrics')).body))?.[1] ?? 0);

test('best-effort: accepted with one copy, logged and counted', async () => {
  const [n1] = fleet.nodes as [FleetNode];
  expect(await send(n1, 'best')).toMatch(/^250 /);
  expect(await metric(n1, 'single_copy')).toBe(1);
  expect(n1.events('replica_single_copy')[0]).toMatchObject({ reason: 'no-peer' });
  await expect.poll(() => mx.messages.filter((m) => m.raw.includes('<best@sender.test>')).length, { timeout: 10_000 }).toBe(1);
});

test('required: 451 4.3.0, counted, and nothing is delivered', async () => {
  const n2 = fleet.nodes[1] as FleetNode;
  expect(await send(n2, 'required')).toMatch(/^451 4\.3\.0 /);
  expect(await metric(n2, 'refused')).toBe(1);
  await new Promise((r) => setTimeout(r, 2_000));
  expect(mx.messages.filter((m) => m.raw.includes('<required@sender.test>')).length).toBe(0);
  expect((await n2.status()).queued_here).toBe(0);
});
