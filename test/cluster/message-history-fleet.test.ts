// GET /api/messages/ID and `sluice queue show ID` across the fleet (issue 17): three node
// processes on one private Redis. A message accepted on n1 whose pool sends only from n2's
// IP is handed to n2, deferred there once and then delivered; asked on any node, with its
// id on n1 or the one n2 gave it, its life reads accepted (n1), handed off (n1 -> n2),
// accepted from the peer (n2), the deferred attempt and the delivery (n2). `?node=` gives
// one node's part, and a live node that does not answer (stopped with SIGSTOP) is named.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FLEET_TOKEN, startFleet, waitUntil, type Fleet, type FleetNode } from '../support/fleet.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { CLI } from '../support/gateway.js';

const run = promisify(execFile);
let fleet: Fleet;
let mx: TestMx;
/** Recipients the MX has refused once (451) so far: each is deferred on its first attempt. */
const refusedOnce = new Set<string>();

beforeAll(async () => {
  mx = await startTestMx({
    host: '127.0.0.181',
    rejectRcpt: (rcpt) => {
      if (refusedOnce.has(rcpt)) return null;
      refusedOnce.add(rcpt);
      return { code: 451, message: '4.7.1 greylisted, try again' };
    },
  });
  fleet = await startFleet({
    nodes: 3,
    heartbeat: '250ms',
    failoverAfter: '20s',
    clusterListener: true,
    clusterLines: 'secret = "history-test-secret-0123456789"',
    shared: `[dns.static]
"*" = "${mx.address}"
[queue]
retry = ["1s"]
[events]
file = "\${DIR}/events.log"
[classify]
default = "transactional"
[[classify.rules]]
header = { "X-Class" = "promo" }
class = "promotional"
[sources.a]
ip = "127.0.0.182"
ehlo = "a.fleet.test"
node = "n1"
[sources.b]
ip = "127.0.0.183"
ehlo = "b.fleet.test"
node = "n2"
[sources.c]
ip = "127.0.0.184"
ehlo = "c.fleet.test"
node = "n3"
[pools.transactional]
sources = ["a", "c"]
[pools.promotional]
sources = ["b"]
`,
  });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

type Step = Record<string, unknown> & { event: string; node: string; queue_id: string };
interface History {
  queue_id: string;
  ids: string[];
  events: Step[];
  nodes: string[];
  errors?: { node: string; error: string }[];
}

/** GET /api/messages/ID on `n` (a plain fetch: a node that does not answer costs the asking node 5 s). */
async function history(n: FleetNode, id: string, query = ''): Promise<{ status: number; body: History }> {
  const res = await fetch(`http://127.0.0.1:${n.ports.admin}/api/messages/${id}${query}`, { headers: { authorization: `Bearer ${FLEET_TOKEN}` }, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: (await res.json()) as History };
}

/** The steps as `node event` (handed_off with its peer), one per recipient. */
const outline = (h: History) => h.events.map((e) => `${e.node} ${e.event}${e.event === 'handed_off' ? ` -> ${String(e['to'])}` : ''}`);

let accepted = '';

test('a message handed from n1 to n2 and delivered there: its whole life, asked on n3, on n1 and with n2\'s id', async () => {
  await fleet.converged();
  const [n1, n2, n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  const c = await RawSmtp.open(n1.ports.smtp);
  await c.read();
  await c.cmd('EHLO app.test');
  const reply = await c.send('app@sender.test', ['ann@dest.test'], message({ to: 'ann@dest.test', subject: 'life-1', headers: ['X-Class: promo'] }));
  c.close();
  expect(reply?.code).toBe(250);
  accepted = /queued as (\S+)/.exec(reply?.text ?? '')?.[1] ?? '';
  expect(accepted).not.toBe('');
  await waitUntil('the message delivered', () => mx.messages.some((m) => m.raw.toString().includes('Subject: life-1')), 30_000);
  // Delivered from n2's IP, after one deferred attempt from it.
  expect(mx.messages.filter((m) => m.raw.toString().includes('Subject: life-1')).map((m) => m.peerIp)).toEqual(['127.0.0.183']);

  const want = ['n1 queued', 'n1 handed_off -> n2', 'n2 queued', 'n2 deferred', 'n2 delivered'];
  const onN3 = await waitUntil('the delivery in the history', async () => {
    const h = await history(n3, accepted);
    return h.body.events?.some((e) => e.event === 'delivered') ? h : null;
  }, 10_000);
  expect(onN3.status).toBe(200);
  expect(outline(onN3.body)).toEqual(want);
  expect(onN3.body.nodes).toEqual(['n1', 'n2', 'n3']);
  expect(onN3.body.errors).toBeUndefined();

  const [queued1, handed, queued2, deferred, delivered] = onN3.body.events as [Step, Step, Step, Step, Step];
  const onPeer = queued2.queue_id;
  expect(onPeer).not.toBe(accepted);
  expect(queued1).toMatchObject({ queue_id: accepted, recipient: 'ann@dest.test', message_id: expect.stringMatching(/^<\w+@test>$/) });
  expect(handed).toMatchObject({ queue_id: accepted, to: 'n2', to_queue_id: onPeer, source: 'b', pool: 'promotional', recipients: ['ann@dest.test'] });
  expect(queued2).toMatchObject({ node: 'n2', peer: { how: 'handoff', from: 'n1', queue_id: accepted, origin: 'n1', hops: 1, trace: `n1/${accepted}` } });
  expect(deferred).toMatchObject({ queue_id: onPeer, source: 'b', mx: expect.any(String), attempt: 1 });
  expect(String(deferred['reply'])).toContain('451');
  expect(String(deferred['reply'])).toContain('greylisted');
  expect(delivered).toMatchObject({ queue_id: onPeer, source: 'b', mx: deferred['mx'] });
  expect(String(delivered['reply'])).toMatch(/^250/);
  const times = onN3.body.events.map((e) => Date.parse(String(e['at'])));
  expect(times).toEqual([...times].sort((a, b) => a - b));

  // The same answer on the node that accepted it, and asked with the id n2 gave it.
  expect(outline((await history(n1, accepted)).body)).toEqual(want);
  const byPeerId = (await history(n3, onPeer)).body;
  expect(outline(byPeerId)).toEqual(want);
  expect(new Set(byPeerId.ids)).toEqual(new Set([accepted, onPeer]));

  // One node's part.
  const onlyN2 = await history(n3, accepted, '?node=n2');
  expect(outline(onlyN2.body)).toEqual(['n2 queued', 'n2 deferred', 'n2 delivered']);
  expect(onlyN2.body.nodes).toEqual(['n2']);
  expect((await history(n2, accepted, '?node=n1')).body.events.map((e) => e.event)).toEqual(['queued', 'handed_off']);

  // The CLI prints one line per step, naming the node.
  const cli = await run(process.execPath, [CLI, 'queue', 'show', accepted, '--config', n3.configFile]);
  const lines = cli.stdout.trim().split('\n');
  expect(lines).toHaveLength(5);
  expect(lines[0]).toMatch(new RegExp(`^\\S+ n1 ${accepted} queued ann@dest\\.test`));
  expect(lines[1]).toContain(`n1 ${accepted} handed_off ann@dest.test -> n2 as ${onPeer} (source b)`);
  expect(lines[2]).toContain(`n2 ${onPeer} queued ann@dest.test from n1/${accepted} (handoff)`);
  expect(lines[4]).toMatch(new RegExp(`n2 ${onPeer} delivered ann@dest\\.test b `));
}, 90_000);

test('a live node that does not answer is named, and the others\' parts still come', async () => {
  const [n1, , n3] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  const pid = n3.cli?.child.pid ?? 0;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, 'SIGSTOP');
  try {
    const h = await history(n1, accepted);
    expect(h.status).toBe(200);
    expect(outline(h.body)).toEqual(['n1 queued', 'n1 handed_off -> n2', 'n2 queued', 'n2 deferred', 'n2 delivered']);
    expect(h.body.nodes).toEqual(['n1', 'n2']);
    expect(h.body.errors).toEqual([{ node: 'n3', error: expect.stringMatching(/no answer/) }]);
    const cli = await run(process.execPath, [CLI, 'queue', 'show', accepted, '--config', n1.configFile]).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(cli.code).toBe(1);
    expect(cli.out).toMatch(/no answer from n3: no answer/);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}, 60_000);

test('an id no node knows: an empty life, and a queue id that is not one is a 400', async () => {
  const [n1] = fleet.nodes as [FleetNode];
  const none = await history(n1, '0000000000000ZZZZ');
  expect(none.status).toBe(200);
  expect(none.body.events).toEqual([]);
  const bad = await n1.api('/api/messages/not%20an%20id');
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toMatch(/is not a queue id/);
  const unknown = await n1.api(`/api/messages/${accepted}?nod=n2`);
  expect(unknown.status).toBe(400);
  expect(unknown.body).toEqual({ error: { code: 'INVALID', message: 'unknown query parameter "nod" (known: node)' } });
}, 30_000);
