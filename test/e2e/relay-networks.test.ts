// Relay mode accepts clients from relay.networks and refuses others with 550 5.7.1 at RCPT.
import { expect, test } from 'vitest';
import { useRelayToMx } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const env = useRelayToMx('127.0.0.20', `
[relay]
networks = ["127.0.0.1/32", "::1/128"]
`);

test('a client in relay.networks relays', async () => {
  const c = await RawSmtp.open(env.gw.port());
  expect((await c.read())?.code).toBe(220);
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  const r = await c.send('app@example.com', ['user@example.net'], message());
  expect(r?.code).toBe(250);
  expect(r?.text).toMatch(/^2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  c.close();
  const [m] = await env.mx.waitFor(1);
  expect(m?.rcpts).toEqual(['user@example.net']);
});

test('a client outside relay.networks is refused with 550 5.7.1 at RCPT', async () => {
  const c = await RawSmtp.open(env.gw.port(), { localAddress: '127.0.0.9' });
  await c.read();
  await c.cmd('EHLO outsider.test');
  expect((await c.cmd('MAIL FROM:<spam@example.com>'))?.code).toBe(250);
  const r = await c.cmd('RCPT TO:<victim@example.net>');
  expect(r?.code).toBe(550);
  expect(r?.text).toMatch(/^5\.7\.1 Relaying denied/);
  c.close();
});
