// Mail that cannot leave because its source is held for the provider (an operator's
// suspension here; a response rule or the health monitor alike) still expires at
// max_age: the sender gets a DSN naming the hold, and nothing reaches the held provider.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const TOKEN = 'expiry-token-0123456789';
let senderMx: TestMx;
let heldMx: TestMx;
let dns: TestDnsServer;
let gw: TestGateway;
let admin: string;

beforeAll(async () => {
  const port = await freePort('127.0.0.37');
  senderMx = await startTestMx({ host: '127.0.0.37', port });
  heldMx = await startTestMx({ host: '127.0.0.38', port });
  dns = await startDnsServer({
    'sender.test': { mx: [{ priority: 10, exchange: 'mx.sender.test' }] },
    'mx.sender.test': { a: ['127.0.0.37'] },
    'held.test': { mx: [{ priority: 10, exchange: 'mx.held.test' }] },
    'mx.held.test': { a: ['127.0.0.38'] },
  });
  const adminPort = await freePort();
  admin = `http://127.0.0.1:${adminPort}`;
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[admin]
listen = "127.0.0.1:${adminPort}"
token = "${TOKEN}"
[dns]
servers = ["${dns.address}"]
[delivery]
port = ${port}
[queue]
max_age = "3s"
[sources.a]
ip = "127.0.0.39"
ehlo = "a.sluice.test"
[pools.transactional]
sources = ["a"]
[providers.heldmail]
mx_suffixes = [".held.test"]
`);
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([senderMx.close(), heldMx.close()]);
  await dns.close();
});

test('a held queue expires at max_age with a DSN that names the hold', async () => {
  const r = await fetch(`${admin}/api/sources/a/hold`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'heldmail', duration: '1h', reason: 'provider asked us to slow down' }),
  });
  expect(r.status).toBe(200);
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@sender.test', ['waiting@held.test'], message({ from: 'app@sender.test', to: 'waiting@held.test', subject: 'held' })))?.code).toBe(250);
  c.close();
  // The DSN goes to sender.test, a provider the hold does not cover.
  const [dsn] = await senderMx.waitFor(1, 20_000);
  const text = dsn?.raw.toString() ?? '';
  expect(dsn?.rcpts).toEqual(['app@sender.test']);
  expect(text).toContain('Final-Recipient: rfc822; waiting@held.test');
  expect(text).toContain('Status: 4.4.7');
  expect(text).toMatch(/message expired after \d+ s in the queue; last reply: 451 4.4.7 waiting in the ready queue of pool transactional for heldmail: .*a is held for heldmail \(provider asked us to slow down;/);
  expect(heldMx.messages).toHaveLength(0);
  await expect.poll(() => gw.node.scheduler.depth, { timeout: 5_000 }).toBe(0);
});
