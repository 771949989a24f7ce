// The framed peer protocol under SIGKILL (issue 14): three nodes as processes on one private
// Redis, replicas = 2, real sockets. Mail for a pool whose only source is on n3 enters n1, so
// n1 hands it to n3 and replicates it to n2 or n3, both framed with many messages in flight
// on one connection. Killing the receiving node (n3) or the sending node (n1) in the middle
// loses nothing: every message n1 answered 250 to reaches the MX (at least once).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ONE_SOURCE_PER_NODE, startFleet, waitUntil, type Fleet, type FleetNode } from '../support/fleet.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let fleet: Fleet;
let mx: TestMx;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.33' });
  fleet = await startFleet({
    nodes: 3,
    heartbeat: '250ms',
    failoverAfter: '3s',
    clusterListener: true,
    clusterLines: 'secret = "framing-kill-secret-0123456789"\nreplicas = 2',
    shared: `[dns.static]
"*" = "${mx.address}"
[queue]
retry = ["1s"]
[classify]
default = "promotional"
${ONE_SOURCE_PER_NODE}
[pools.promotional]
sources = ["c"]
`,
  });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

/** `conns` connections into `n`, `each` messages on each; every reply (or the error that ended a connection) is kept by index. */
async function load(n: FleetNode, tag: string, conns: number, each: number): Promise<Map<number, string>> {
  const replies = new Map<number, string>();
  await Promise.all(
    Array.from({ length: conns }, async (_, k) => {
      try {
        const c = await RawSmtp.open(n.ports.smtp);
        await c.read();
        await c.cmd('EHLO app.test');
        for (let j = 0; j < each; j++) {
          const i = k * each + j;
          const to = `${tag}${i}@dest.test`;
          const r = await c.send('app@sender.test', [to], message({ to, headers: [`Message-ID: <${tag}${i}@sender.test>`] }));
          replies.set(i, `${r?.code} ${r?.text ?? ''}`);
        }
        c.close();
      } catch {
        // The node was killed: what had no reply was not accepted.
      }
    }),
  );
  return replies;
}

const copies = (tag: string, i: number) => mx.messages.filter((m) => m.raw.toString().includes(`<${tag}${i}@sender.test>`));
const accepted = (replies: Map<number, string>) => [...replies].flatMap(([i, r]) => (r.startsWith('250') ? [i] : []));

test('the receiving node killed with SIGKILL while framed handoffs and replicas are in flight: every message accepted reaches the MX', async () => {
  await fleet.converged();
  const [n1, , n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  const sending = load(n1, 'r-', 4, 40);
  await waitUntil('framed handoffs under way', () => n3.events('handoff_received').length > 20, 20_000, 5);
  await n3.kill9();
  const replies = await sending;
  const ok = accepted(replies);
  expect(ok.length).toBe(160);
  await new Promise((r) => setTimeout(r, 1_000));
  await n3.start();
  await waitUntil('every accepted message delivered', () => ok.every((i) => copies('r-', i).length >= 1), 60_000, 200);
  const received = n3.events('handoff_received');
  expect(received.length).toBeGreaterThan(0);
  expect(received.every((e) => e['via'] === 'framed')).toBe(true);
  const duplicates = ok.reduce((s, i) => s + copies('r-', i).length - 1, 0);
  console.log(`framed receiver kill: ${ok.length} accepted on n1, n3 killed mid-stream: all delivered, ${duplicates} duplicates`);
}, 120_000);

test('the sending node killed with SIGKILL while framed handoffs and replicas are in flight: every message it accepted reaches the MX', async () => {
  await fleet.converged();
  const [n1, , n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  const base = n3.events('handoff_received').length;
  const sending = load(n1, 's-', 4, 40);
  await waitUntil('framed handoffs under way', () => n3.events('handoff_received').length > base + 30, 20_000, 5);
  await n1.kill9();
  const ok = accepted(await sending);
  expect(ok.length).toBeGreaterThan(30);
  await n1.start();
  await waitUntil('every accepted message delivered', async () => (await n1.status()).queued_here === 0 && ok.every((i) => copies('s-', i).length >= 1), 60_000, 200);
  expect(n3.events('handoff_received').slice(base).every((e) => e['via'] === 'framed')).toBe(true);
  const duplicates = ok.reduce((s, i) => s + copies('s-', i).length - 1, 0);
  console.log(`framed sender kill: ${ok.length} accepted on n1 before SIGKILL, all delivered, ${duplicates} duplicates`);
}, 120_000);
