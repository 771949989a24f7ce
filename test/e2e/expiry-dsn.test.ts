// A message that cannot be delivered within max_age expires: the sender gets an RFC 3464
// DSN (Action: failed, Status: 4.4.7) and the message leaves the spool. No DSN for <>.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let senderMx: TestMx;
let dns: TestDnsServer;
let gw: TestGateway;

beforeAll(async () => {
  const port = await freePort('127.0.0.33');
  senderMx = await startTestMx({ host: '127.0.0.33', port });
  dns = await startDnsServer({
    'sender.test': { mx: [{ priority: 10, exchange: 'mx.sender.test' }] },
    'mx.sender.test': { a: ['127.0.0.33'] },
    // Nothing listens on 127.0.0.34: every attempt is deferred.
    'dead.test': { mx: [{ priority: 10, exchange: 'mx.dead.test' }] },
    'mx.dead.test': { a: ['127.0.0.34'] },
  });
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns]
servers = ["${dns.address}"]
[delivery]
port = ${port}
connect_timeout = "1s"
[queue]
retry = ["500ms"]
max_age = "2s"
`);
});
afterAll(async () => {
  await gw.stop();
  await senderMx.close();
  await dns.close();
});

test('expired mail produces a DSN to the sender and leaves the spool', async () => {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@sender.test', ['gone@dead.test'], message({ from: 'app@sender.test', to: 'gone@dead.test', subject: 'will expire' })))?.code).toBe(250);
  // The null sender's message to the same dead domain expires silently.
  expect((await c.send('', ['gone2@dead.test'], message({ subject: 'bounce of a bounce' })))?.code).toBe(250);
  c.close();
  const [dsn] = await senderMx.waitFor(1, 20_000);
  const text = dsn?.raw.toString() ?? '';
  expect(dsn?.mailFrom).toBe('');
  expect(dsn?.rcpts).toEqual(['app@sender.test']);
  expect(text).toContain('Final-Recipient: rfc822; gone@dead.test');
  expect(text).toContain('Action: failed');
  expect(text).toContain('Status: 4.4.7');
  expect(text).toContain('Subject: will expire');
  await new Promise((r) => setTimeout(r, 3000));
  expect(senderMx.messages).toHaveLength(1);
  // Nothing is left queued: the expired message and the DSN both left the queue.
  expect(gw.node.scheduler.depth).toBe(0);
});
