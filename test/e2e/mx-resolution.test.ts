// MX lookup against a real DNS server on loopback: preference order with fallback to the
// next MX, the domain's own address when it has no MX, null MX (RFC 7505) and NXDOMAIN bounce at once.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let primary: TestMx;
let backup: TestMx;
let senderMx: TestMx;
let dns: TestDnsServer;
let gw: TestGateway;

beforeAll(async () => {
  const port = await freePort('127.0.0.30');
  primary = await startTestMx({ host: '127.0.0.30', port });
  backup = await startTestMx({ host: '127.0.0.31', port });
  senderMx = await startTestMx({ host: '127.0.0.32', port });
  dns = await startDnsServer({
    'fallback.test': { mx: [{ priority: 10, exchange: 'mx1.fallback.test' }, { priority: 20, exchange: 'mx2.fallback.test' }] },
    'mx1.fallback.test': { a: ['127.0.0.30'] },
    'mx2.fallback.test': { a: ['127.0.0.31'] },
    'primary.test': { mx: [{ priority: 20, exchange: 'mx2.fallback.test' }, { priority: 5, exchange: 'mx1.fallback.test' }] },
    'noemx.test': { a: ['127.0.0.31'] },
    'nullmx.test': { mx: [{ priority: 0, exchange: '.' }] },
    'example.com': { mx: [{ priority: 10, exchange: 'mx.example.com' }] },
    'mx.example.com': { a: ['127.0.0.32'] },
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
connect_timeout = "2s"
[queue]
retry = ["1s"]
`);
});
afterAll(async () => {
  await gw.stop();
  await Promise.all([primary.close(), backup.close(), senderMx.close(), dns.close()]);
});

async function send(to: string): Promise<void> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@example.com', [to], message({ to })))?.code).toBe(250);
  c.close();
}

test('the most preferred MX gets the mail', async () => {
  await send('a@primary.test');
  await primary.waitUntil((mx) => mx.messages.some((m) => m.rcpts.includes('a@primary.test')));
  expect(backup.messages.some((m) => m.rcpts.includes('a@primary.test'))).toBe(false);
});

test('when the first MX is down, the next one by preference gets the mail', async () => {
  await primary.down();
  try {
    await send('b@fallback.test');
    await backup.waitUntil((mx) => mx.messages.some((m) => m.rcpts.includes('b@fallback.test')), 15_000);
  } finally {
    await primary.up();
  }
});

test('a domain without MX is delivered to its own address', async () => {
  await send('c@noemx.test');
  await backup.waitUntil((mx) => mx.messages.some((m) => m.rcpts.includes('c@noemx.test')));
});

test('null MX bounces at once with a DSN to the sender', async () => {
  await send('d@nullmx.test');
  await senderMx.waitUntil((mx) => mx.messages.some((m) => m.mailFrom === '' && m.raw.toString().includes('d@nullmx.test')), 15_000);
  const dsn = senderMx.messages.find((m) => m.raw.toString().includes('d@nullmx.test'));
  const text = dsn?.raw.toString() ?? '';
  expect(dsn?.rcpts).toEqual(['app@example.com']);
  expect(text).toContain('multipart/report; report-type=delivery-status');
  expect(text).toContain('Status: 5.1.10');
  expect(text).toContain('Action: failed');
});
