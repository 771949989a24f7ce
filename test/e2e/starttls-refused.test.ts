// A relay listener with tls = "none" neither offers nor runs STARTTLS: 502 5.5.1, and
// the session carries on in clear text (smtp-server's hideSTARTTLS only hid the keyword).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.23' });
  gw = await startGateway(relayConfig({ mx: `127.0.0.23:${mx.port}` }).replace('mode = "relay"', 'mode = "relay"\ntls = "none"'));
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

test('STARTTLS on a tls = "none" listener gets 502 5.5.1 and no TLS handshake; mail still flows in clear', async () => {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  const ehlo = await c.cmd('EHLO app.test');
  expect(ehlo?.lines.some((l) => /STARTTLS/.test(l))).toBe(false);
  const r = await c.cmd('STARTTLS');
  expect(r?.code).toBe(502);
  expect(r?.text).toBe('5.5.1 STARTTLS not available on this listener');
  // The server did not switch to TLS: plain SMTP still works on the same connection.
  expect((await c.cmd('NOOP'))?.code).toBe(250);
  expect((await c.send('app@example.com', ['user@example.net'], message()))?.code).toBe(250);
  c.close();
  await mx.waitFor(1);
});
