// A queue-rules.json written by a release that called a hold rule `suspend` (issue 17's
// name) still holds after an upgrade: the node reads the rule as a hold, lists it as
// `hold` in GET /api/queue/rules, holds matching mail, and `lift` releases it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, tempDir, type TestGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const TOKEN = 'older-rules-token-0123456789';
let gw: TestGateway;
let admin: string;

beforeAll(async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'data'), { recursive: true });
  const rule = { id: 'suspend-mg1abc-1', kind: 'suspend', selector: { domain: 'kept.test' }, until: null, by: 'admin-api 127.0.0.1 token:0badc0de', at: Date.parse('2026-12-01T10:00:00Z') };
  writeFileSync(join(dir, 'data', 'queue-rules.json'), JSON.stringify([rule]));
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  // Nothing listens at the MX: mail the rule does not hold is deferred, not held.
  gw = await startGateway(relayConfig({ mx: '127.0.0.99:25', source: { name: 'a', ip: '127.0.0.99' }, admin: { port, token: TOKEN } }, '[queue]\nretry = ["1h"]\n'), dir);
});
afterAll(async () => {
  await gw?.stop();
});

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  expect(res.status, path).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const domain = async (key: string) => ((await api('GET', '/api/queue?by=domain'))['groups'] as { key: string; held: number; deferred: number }[]).find((g) => g.key === key);

test('a rule of kind "suspend" from an earlier release is a hold rule', async () => {
  expect((await api('GET', '/api/queue/rules'))['rules']).toEqual([{ id: 'suspend-mg1abc-1', kind: 'hold', selector: { domain: 'kept.test' }, pool: null, until: null, by: 'admin-api 127.0.0.1 token:0badc0de', created: '2026-12-01T10:00:00.000Z' }]);
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@ok.test', ['x@kept.test'], message({ to: 'x@kept.test' })))?.code).toBe(250);
  expect((await c.send('app@ok.test', ['y@other.test'], message({ to: 'y@other.test' })))?.code).toBe(250);
  c.close();
  await expect.poll(async () => (await domain('other.test'))?.deferred, { timeout: 10_000 }).toBe(1);
  await expect.poll(async () => (await domain('kept.test'))?.held, { timeout: 10_000 }).toBe(1);
  expect(await api('POST', '/api/queue/lift', { selector: { domain: 'kept.test' } })).toMatchObject({ action: 'lift', recipients: 1 });
  expect((await api('GET', '/api/queue/rules'))['rules']).toEqual([]);
  await expect.poll(async () => (await domain('kept.test'))?.held ?? 0, { timeout: 10_000 }).toBe(0);
});
