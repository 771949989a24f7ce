// Admin actions on a real node: flush makes deferred mail go now, a hold toward one
// provider holds a source for it, holding a pool stops its mail, and reload answers with changes.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;
let admin: string;
const TOKEN = 'actions-token-0123456789';
const post = (path: string, body?: unknown) =>
  fetch(`${admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

beforeAll(async () => {
  const mxPort = await freePort('127.0.0.42');
  mx = await startTestMx({ host: '127.0.0.42', port: mxPort });
  await mx.down();
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[admin]
listen = "127.0.0.1:${port}"
token = "${TOKEN}"
[dns.static]
"*" = "127.0.0.42:${mxPort}"
[delivery]
connect_timeout = "1s"
[queue]
retry = ["1h"]
[sources.a]
ip = "127.0.0.43"
ehlo = "a.sluice.test"
[pools.transactional]
sources = ["a"]
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

async function send(rcpt: string): Promise<void> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@example.com', [rcpt], message()))?.code).toBe(250);
  c.close();
}

test('flush retries deferred mail now instead of in an hour', async () => {
  await send('later@example.net');
  await expect.poll(() => gw.node.queueRows().reduce((a, r) => a + r.depth, 0), { timeout: 10_000 }).toBe(1);
  // Deferred with a one-hour retry; the MX comes back; flush sends it now.
  await expect.poll(() => gw.node.scheduler.waitingItems().length, { timeout: 10_000 }).toBe(1);
  await mx.up();
  const r = await post('/api/queue/flush');
  expect(r.status).toBe(200);
  expect(((await r.json()) as { flushed: number }).flushed).toBe(1);
  const [m] = await mx.waitFor(1, 10_000);
  expect(m?.rcpts).toEqual(['later@example.net']);
});

test('a held pool sends nothing until lifted, and /api/status says so in held (and in paused, its older name)', async () => {
  expect((await post('/api/pools/transactional/hold', { reason: 'maintenance' })).status).toBe(200);
  const status = (await (await fetch(`${admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { pools: { name: string; held: unknown; paused: unknown }[] };
  const pool = status.pools.find((p) => p.name === 'transactional');
  expect(pool?.held).toMatchObject({ reason: 'maintenance', until: null });
  expect(pool?.paused).toEqual(pool?.held);
  await send('held@example.net');
  await new Promise((res) => setTimeout(res, 1500));
  expect(mx.messages.some((m) => m.rcpts.includes('held@example.net'))).toBe(false);
  expect((await post('/api/pools/transactional/lift')).status).toBe(200);
  await mx.waitUntil((x) => x.messages.some((m) => m.rcpts.includes('held@example.net')), 10_000);
});

test('a held source sends nothing until lifted (POST /api/sources/:name/hold, /lift)', async () => {
  expect((await post('/api/sources/a/hold', { reason: 'blocklisted' })).status).toBe(200);
  await send('held-source@example.net');
  await new Promise((res) => setTimeout(res, 1500));
  expect(mx.messages.some((m) => m.rcpts.includes('held-source@example.net'))).toBe(false);
  expect((await post('/api/sources/a/lift')).status).toBe(200);
  await mx.waitUntil((x) => x.messages.some((m) => m.rcpts.includes('held-source@example.net')), 10_000);
});

test('a hold of a source toward a provider is validated and shows in held_toward and held_sources (and suspended, their older name)', async () => {
  expect((await post('/api/sources/a/hold', { provider: 'default', duration: 'soon' })).status).toBe(400);
  expect((await post('/api/sources/a/hold', { provider: 'default', duration: '10m', reason: 'complaints' })).status).toBe(200);
  const get = async (path: string) => (await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  const { sources } = (await get('/api/sources')) as { sources: { name: string; held: unknown; held_toward: { provider: string; reason: string; until: string | null }[]; suspended: unknown }[] };
  const a = sources.find((s) => s.name === 'a');
  expect(a?.held).toBeNull();
  expect(a?.held_toward).toEqual([{ provider: 'default', reason: 'complaints', by: expect.stringMatching(/^admin-api 127\.0\.0\.1 token:/), until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
  expect(a?.suspended).toEqual(a?.held_toward);
  const { providers } = (await get('/api/providers')) as { providers: { name: string; held: unknown; held_sources: { source: string; reason: string }[]; suspended: unknown }[] };
  const dflt = providers.find((p) => p.name === 'default');
  expect(dflt?.held).toBeNull();
  expect(dflt?.held_sources).toMatchObject([{ source: 'a', reason: 'complaints' }]);
  expect(dflt?.suspended).toEqual(dflt?.held_sources);
  expect((await post('/api/sources/a/lift')).status).toBe(200);
  expect(((await get('/api/sources')) as { sources: { name: string; held_toward: unknown[] }[] }).sources.find((s) => s.name === 'a')?.held_toward).toEqual([]);
});

test('reload answers with the files read', async () => {
  const r = await post('/api/reload');
  expect(r.status).toBe(200);
  const body = (await r.json()) as { files: string[]; changes: string[] };
  expect(body.files).toEqual([gw.configFile]);
  expect(body.changes).toEqual([]);
});
