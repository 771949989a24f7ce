// The admin API refuses what is not a name or an address with a 400 that says why:
// "constructor" and "__proto__" are no source or pool (config.sources["constructor"] is
// Object's constructor, and a hold used to be saved under it), and a NUL in a
// suppression address is a bad request, not a 500.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { freePort } from '../support/ports.js';

let gw: TestGateway;
let admin: string;
const TOKEN = 'input-token-0123456789';
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

beforeAll(async () => {
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[admin]
listen = "127.0.0.1:${port}"
token = "${TOKEN}"
[sources.a]
ip = "127.0.0.31"
ehlo = "a.sluice.test"
[pools.transactional]
sources = ["a"]
`);
});
afterAll(() => gw.stop());

test.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('source and pool "%s": 400, nothing saved', async (name) => {
  // The routes and their older names (pause, resume, suspend).
  const paths = [`/api/sources/${name}/hold`, `/api/pools/${name}/hold`, `/api/sources/${name}/lift`, `/api/pools/${name}/lift`, `/api/sources/${name}/pause`, `/api/pools/${name}/pause`, `/api/sources/${name}/resume`, `/api/sources/${name}/suspend`];
  for (const path of paths) {
    const res = await call('POST', path, path.endsWith('suspend') ? { provider: 'gmail', duration: '1h' } : {});
    expect(res.status, path).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('INVALID');
    expect(body.error.message).toMatch(/name/);
  }
  expect(gw.node.holds.all()).toEqual([]);
});

test('a provider named "constructor" in a hold toward a provider: 400', async () => {
  expect((await call('POST', '/api/sources/a/hold', { provider: 'constructor', duration: '1h' })).status).toBe(400);
  expect((await call('POST', '/api/sources/a/suspend', { provider: 'constructor', duration: '1h' })).status).toBe(400);
  expect(gw.node.holds.all()).toEqual([]);
});

test('a real source is still held and lifted', async () => {
  expect((await call('POST', '/api/sources/a/hold', {})).status).toBe(200);
  expect((await call('POST', '/api/sources/a/lift', {})).status).toBe(200);
});

test('a NUL in a suppression address: 400 with a clear message, nothing added', async () => {
  const res = await call('POST', '/api/suppression', { address: 'bad\u0000@example.com' });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.message).toMatch(/control characters/);
  expect((await call('GET', '/api/suppression/bad%00@example.com')).status).toBe(400);
  expect((await call('DELETE', '/api/suppression/bad%00@example.com')).status).toBe(400);
  const check = (await (await call('GET', '/api/suppression/bad@example.com')).json()) as { suppressed: boolean };
  expect(check.suppressed).toBe(false);
});
