// Delivery goes out through each source of the pool: the MX sees the source IPs and their EHLO names.
import { expect, test } from 'vitest';
import { useRelayToMx } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const env = useRelayToMx('127.0.0.21', `
[sources.a]
ip = "127.0.0.2"
ehlo = "a.sluice.test"
[sources.b]
ip = "127.0.0.3"
ehlo = "b.sluice.test"
[pools.transactional]
sources = ["a", "b"]
[providers.default]
max_connections = 1
max_messages_per_connection = 1
`);

test('messages leave from both sources with their EHLO names', async () => {
  const c = await RawSmtp.open(env.gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  for (let i = 0; i < 10; i++) expect((await c.send('app@example.com', [`u${i}@d${i}.example.net`], message()))?.code).toBe(250);
  c.close();
  const got = await env.mx.waitFor(10);
  const pairs = new Set(got.map((m) => `${m.peerIp} ${m.helo}`));
  expect(pairs).toEqual(new Set(['127.0.0.2 a.sluice.test', '127.0.0.3 b.sluice.test']));
});
