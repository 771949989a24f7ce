// Implicit TLS (port 465 style) and the PROXY protocol: behind a balancer, relay rules see
// the app's address from the PROXY header, not the balancer's.
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

let mx: TestMx;
let gw: TestGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.36' });
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
tls = "implicit"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
proxy = true
[relay]
networks = ["10.1.0.0/16"]
[[users]]
name = "app1"
password_hash = "${await hashPassword('pw')}"
[dns.static]
"*" = "127.0.0.36:${mx.port}"
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

test('implicit TLS: TLS from the first byte, then AUTH and mail', async () => {
  const c = await RawSmtp.open(gw.port(0), { tls: true });
  expect((await c.read())?.code).toBe(220);
  const ehlo = await c.cmd('EHLO app.test');
  expect(ehlo?.lines.join('\n')).toContain('AUTH PLAIN LOGIN');
  expect((await c.cmd(`AUTH PLAIN ${Buffer.from('\0app1\0pw').toString('base64')}`))?.code).toBe(235);
  expect((await c.send('app@example.com', ['tls@example.net'], message()))?.code).toBe(250);
  c.close();
  const [m] = await mx.waitFor(1);
  expect(m?.raw.toString()).toMatch(/with ESMTPSA/);
});

async function viaProxy(clientIp: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(1));
  c.write(`PROXY TCP4 ${clientIp} 127.0.0.1 40000 25\r\n`);
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

test('PROXY header from a relay network: relayed', async () => {
  const c = await viaProxy('10.1.2.3');
  expect((await c.send('app@example.com', ['proxied@example.net'], message()))?.code).toBe(250);
  c.close();
  await mx.waitUntil((x) => x.messages.some((m) => m.rcpts.includes('proxied@example.net')));
  const m = mx.messages.find((x) => x.rcpts.includes('proxied@example.net'));
  expect(m?.raw.toString()).toContain('[10.1.2.3]');
});

test('PROXY header from elsewhere: relay denied although the TCP peer is loopback', async () => {
  const c = await viaProxy('192.0.2.7');
  await c.cmd('MAIL FROM:<app@example.com>');
  const r = await c.cmd('RCPT TO:<x@example.net>');
  expect(r?.code).toBe(550);
  expect(r?.text).toMatch(/^5\.7\.1/);
  c.close();
});

test('a client that skips the PROXY header on a proxy listener is not served', async () => {
  const s = connect(gw.port(1), '127.0.0.1');
  s.write('EHLO app.test\r\n');
  const data = await new Promise<string>((resolve) => {
    let buf = '';
    s.on('data', (d) => (buf += d));
    s.on('close', () => resolve(buf));
    setTimeout(() => (s.destroy(), resolve(buf)), 3000);
  });
  expect(data).not.toMatch(/^250/m);
});
