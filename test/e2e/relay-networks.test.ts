// Relay mode accepts clients from relay.networks and refuses others with 550 5.7.1 at RCPT.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.20' });
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32", "::1/128"]
[dns.static]
"*" = "127.0.0.20:${mx.port}"
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

test('a client in relay.networks relays', async () => {
  const c = await RawSmtp.open(gw.port());
  expect((await c.read())?.code).toBe(220);
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  const r = await c.send('app@example.com', ['user@example.net'], message());
  expect(r?.code).toBe(250);
  expect(r?.text).toMatch(/^2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  c.close();
  const [m] = await mx.waitFor(1);
  expect(m?.rcpts).toEqual(['user@example.net']);
});

test('a client outside relay.networks is refused with 550 5.7.1 at RCPT', async () => {
  const c = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.9' });
  await c.read();
  await c.cmd('EHLO outsider.test');
  expect((await c.cmd('MAIL FROM:<spam@example.com>'))?.code).toBe(250);
  const r = await c.cmd('RCPT TO:<victim@example.net>');
  expect(r?.code).toBe(550);
  expect(r?.text).toMatch(/^5\.7\.1 Relaying denied/);
  c.close();
});
