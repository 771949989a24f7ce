// The admin API of a real node: the token is required, /metrics counts what happened, a
// held source delivers nothing, and the API reports sources, providers and the queue.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;
let admin: string;
const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.39' });
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(`
[node]
id = "obs-1"
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[admin]
listen = "127.0.0.1:${port}"
token = "${TOKEN}"
[dns.static]
"*" = "127.0.0.39:${mx.port}"
[sources.a]
ip = "127.0.0.40"
ehlo = "a.sluice.test"
[sources.b]
ip = "127.0.0.41"
ehlo = "b.sluice.test"
[pools.transactional]
sources = ["a", "b"]
[providers.bigmail]
domains = ["bigmail.test"]
max_message_rate = "150/s"
max_message_burst = 10
[providers.bigmail.total]
max_connections = 12
max_message_rate = "500/h"
max_message_burst = 50
[providers.plain]
domains = ["plain.test"]
[providers.default]
max_connections = 7
max_message_rate = "1000/s"
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

async function send(n: number, prefix: string): Promise<void> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  for (let i = 0; i < n; i++) expect((await c.send('app@example.com', [`${prefix}${i}@d${i % 3}.example.net`], message({ headers: ['X-Campaign-ID: spring'] })))?.code).toBe(250);
  c.close();
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

test('the token is required everywhere but /healthz and /readyz', async () => {
  expect((await fetch(`${admin}/metrics`)).status).toBe(401);
  expect((await fetch(`${admin}/api/status`, { headers: { authorization: 'Bearer wrong-token-000000' } })).status).toBe(401);
  expect((await fetch(`${admin}/healthz`)).status).toBe(200);
  const ready = await fetch(`${admin}/readyz`);
  expect(ready.status).toBe(200);
});

test('metrics count accepted and delivered mail by source and campaign', async () => {
  await send(12, 'm');
  await mx.waitFor(12);
  await new Promise((r) => setTimeout(r, 200));
  const text = await (await fetch(`${admin}/metrics`, { headers: auth })).text();
  expect(metric(text, 'sluice_messages_delivered_total')).toBe(12);
  expect(metric(text, 'sluice_messages_delivered_total', { source: 'a' }) + metric(text, 'sluice_messages_delivered_total', { source: 'b' })).toBe(12);
  expect(metric(text, 'sluice_messages_delivered_total', { campaign: 'spring' })).toBe(12);
  expect(metric(text, 'sluice_messages_accepted_total')).toBe(12);
  expect(text).toContain('process_cpu_seconds_total');
});

test('a source held by the older route /pause delivers nothing; lifted by /resume, it delivers again', async () => {
  const r = await fetch(`${admin}/api/sources/a/pause`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'test' }) });
  expect(r.status).toBe(200);
  const { sources } = (await (await fetch(`${admin}/api/sources`, { headers: auth })).json()) as { sources: { name: string; held: unknown; paused: unknown }[] };
  const a = sources.find((s) => s.name === 'a');
  expect(a?.held).toMatchObject({ reason: 'test', until: null });
  expect(a?.paused).toEqual(a?.held);
  const before = mx.messages.length;
  await send(10, 'p');
  await mx.waitFor(before + 10);
  expect(mx.messages.slice(before).every((m) => m.peerIp === '127.0.0.41')).toBe(true);
  expect((await fetch(`${admin}/api/sources/nope/pause`, { method: 'POST', headers: auth })).status).toBe(404);
  expect((await fetch(`${admin}/api/sources/a/resume`, { method: 'POST', headers: auth })).status).toBe(200);
});

test('suppression add and check through the API; bad input gets 400', async () => {
  const r = await fetch(`${admin}/api/suppression`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ address: 'blocked@example.net', reason: 'manual' }) });
  expect(r.status).toBeLessThan(300);
  const check = await fetch(`${admin}/api/suppression/blocked@example.net`, { headers: auth });
  expect(check.status).toBe(200);
  const bad = await fetch(`${admin}/api/suppression`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ address: 'not an address' }) });
  expect(bad.status).toBe(400);
});

test('providers show their limits as the scheduler applies them: burst, fleet total, and what a rate keeps', async () => {
  const body = (await (await fetch(`${admin}/api/providers`, { headers: auth })).json()) as { providers: Record<string, unknown>[] };
  const by = Object.fromEntries(body.providers.map((p) => [p['name'], p]));
  expect(by['bigmail']).toMatchObject({
    max_connections: 7, // from [providers.default]
    max_message_rate: '150/s',
    max_message_burst: 10,
    rate_guarantee: 'at most 150 in any 1s (sliding); 10 back to back, then one every 7.2ms, about 138.9/s sustained',
    total: { max_connections: 12, max_message_rate: '500/h', max_message_burst: 50, rate_guarantee: 'at most 500 in any 1h (sliding); 50 back to back, then one every 7.98s, about 451/h sustained' },
  });
  // Keys a provider leaves out come from [providers.default], as for delivery.
  expect(by['plain']).toMatchObject({ max_connections: 7, max_message_rate: '1000/s', max_message_burst: null, total: null });
  expect(by['plain']?.['rate_guarantee']).toMatch(/^at most 1000 in any 1s \(sliding\); one every 1\.03ms \(15 back to back\), about 970\.9\/s sustained$/);
  expect(by['default']).toMatchObject({ max_connections: 7, max_message_rate: '1000/s', max_message_burst: null, total: null });
});
