// New sessions per minute from one untrusted address are limited, as Postfix's anvil
// does with smtpd_client_connection_rate_limit: past max_connection_rate a client gets
// `421 4.7.0` at the greeting. Clients in relay.networks have no rate by default.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';

const env = useLimitsGateway('127.0.0.42', '', `
[limits]
max_connection_rate = "3/m"
`);

test('the fourth session in a minute from one address gets 421 4.7.0; another address and a trusted client do not', async () => {
  for (let i = 0; i < 3; i++) {
    const { c, greeting } = await env.connect('127.0.0.13');
    expect(greeting?.code).toBe(220);
    expect((await c.cmd('QUIT'))?.code).toBe(221);
  }
  const fourth = await env.connect('127.0.0.13');
  expect(fourth.greeting?.code).toBe(421);
  expect(fourth.greeting?.text).toBe('4.7.0 Too many connections from your address in a short time, try again later');
  expect(await fourth.c.read()).toBeNull();

  expect((await env.connect('127.0.0.14')).greeting?.code).toBe(220);
  for (let i = 0; i < 5; i++) {
    const { c, greeting } = await env.connect('127.0.0.1');
    expect(greeting?.code).toBe(220);
    c.close();
  }
  expect(await env.refused('connection_rate')).toBe(1);
});
