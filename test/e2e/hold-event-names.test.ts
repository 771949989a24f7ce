// Held mail under its names (README "Words"): holds set and lifted through the admin API
// of a real node are `source_held`, `source_lifted`, `pool_held` and `pool_lifted` in the
// event log and at a webhook that asks for them; a webhook whose `events` still lists the
// older `source_paused` / `source_resumed` gets the same source records under those names;
// and /metrics counts the holds as `sluice_source_held_total` and, with the same values,
// as the deprecated `sluice_source_paused_total`.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { metricValue, readEvents } from '../support/feedback.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'hold-names-token-0123456789';
const SECRET = 'whsec-hold-names-0123456789';
let gw: TestGateway;
let admin: string;
let older: WebhookReceiver;
let newer: WebhookReceiver;

beforeAll(async () => {
  older = await startWebhookReceiver();
  newer = await startWebhookReceiver();
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(relayConfig({ mx: '127.0.0.99:25', source: { name: 'a', ip: '127.0.0.99' }, admin: { port, token: TOKEN } }, `[events]
file = "\${DIR}/events.log"
[[events.webhooks]]
url = "${older.url}"
events = ["source_paused", "source_resumed"]
secret = "${SECRET}"
[[events.webhooks]]
url = "${newer.url}"
events = ["source_held", "source_lifted", "pool_held", "pool_lifted"]
secret = "${SECRET}"
`));
});
afterAll(async () => {
  await gw?.stop();
  await Promise.all([older?.close(), newer?.close()]);
});

async function post(path: string, body: unknown = {}): Promise<void> {
  const res = await fetch(`${admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, path).toBe(200);
}

/** Every record the receiver was posted, in order. */
function posted(r: WebhookReceiver): Record<string, unknown>[] {
  return r.requests.flatMap((q) => JSON.parse(q.body) as Record<string, unknown>[]);
}

test('holds are posted and logged under the new names, to older subscriptions under the older ones, and counted under both metric names', async () => {
  await post('/api/sources/a/hold', { reason: 'blocklisted' });
  await post('/api/sources/a/hold', { provider: 'gmail', duration: '10m' });
  await post('/api/sources/a/lift');
  await post('/api/pools/transactional/hold', { reason: 'maintenance' });
  await post('/api/pools/transactional/lift');

  await expect.poll(() => posted(newer).length, { timeout: 10_000 }).toBe(5);
  expect(posted(newer).map((e) => e['event'])).toEqual(['source_held', 'source_held', 'source_lifted', 'pool_held', 'pool_lifted']);
  expect(posted(newer)[1]).toMatchObject({ source: 'a', provider: 'gmail', reason: 'admin', until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  expect(posted(newer)[3]).toMatchObject({ pool: 'transactional', reason: 'admin', by: expect.stringMatching(/^admin-api 127\.0\.0\.1 token:/), until: null });

  // The older subscription: the source records only, named as before, fields unchanged.
  await expect.poll(() => posted(older).length, { timeout: 10_000 }).toBe(3);
  const old = posted(older);
  expect(old.map((e) => e['event'])).toEqual(['source_paused', 'source_paused', 'source_resumed']);
  expect(old.map((e) => ({ ...e, event: null }))).toEqual(posted(newer).slice(0, 3).map((e) => ({ ...e, event: null })));

  const log = readEvents(join(gw.dir, 'events.log')).map((e) => e.event);
  expect(log).toEqual(['source_held', 'source_held', 'source_lifted', 'pool_held', 'pool_lifted']);

  const metrics = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  expect(metricValue(metrics, 'sluice_source_held_total', { source: 'a', reason: 'admin' })).toBe(2);
  expect(metricValue(metrics, 'sluice_source_paused_total', { source: 'a', reason: 'admin' })).toBe(2);
  expect(metrics).toMatch(/^# HELP sluice_source_paused_total Deprecated: the older name of sluice_source_held_total/m);
});
