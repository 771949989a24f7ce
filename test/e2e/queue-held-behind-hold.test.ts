// Mail that waits behind a held pool or a held source (issue 17: "held
// (suspended/paused/warm-up)") shows as held in GET /api/queue, not ready; once the
// hold is lifted it is sent.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const TOKEN = 'queue-token-0123456789';
let mx: TestMx;
let gw: TestGateway;
let admin: string;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.178' });
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(relayConfig({ mx: mx.address, source: { name: 'srca', ip: '127.0.0.179' }, admin: { port, token: TOKEN } }));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  expect(res.status, path).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

type Group = { key: string; ready: number; held: number; in_flight: number };
const group = async (key: string) => ((await api('GET', '/api/queue?by=domain'))['groups'] as Group[]).find((g) => g.key === key);

async function send(rcpt: string): Promise<void> {
  const c = await RawSmtp.open(gw.port(), { host: '127.0.0.1' });
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@ok.test', [rcpt], message({ to: rcpt })))?.code).toBe(250);
  c.close();
}

test('mail behind a held pool shows as held, and is sent once the pool is lifted', async () => {
  await api('POST', '/api/pools/transactional/hold', { reason: 'test' });
  await send('a@held-pool.test');
  await expect.poll(async () => (await group('held-pool.test'))?.held, { timeout: 10_000 }).toBe(1);
  expect(await group('held-pool.test')).toMatchObject({ ready: 0, held: 1 });
  await api('POST', '/api/pools/transactional/lift');
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('a@held-pool.test')), 15_000);
  await expect.poll(async () => group('held-pool.test')).toBeUndefined();
});

test('mail behind its only source, held, shows as held, and is sent once the source is lifted', async () => {
  await api('POST', '/api/sources/srca/hold', { reason: 'test' });
  await send('b@held-source.test');
  await expect.poll(async () => (await group('held-source.test'))?.held, { timeout: 10_000 }).toBe(1);
  expect(await group('held-source.test')).toMatchObject({ ready: 0, held: 1 });
  await api('POST', '/api/sources/srca/lift');
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('b@held-source.test')), 15_000);
  await expect.poll(async () => group('held-source.test')).toBeUndefined();
});
