// Malformed envelope addresses get a 5xx with the right enhanced code and never enter the queue.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { RawSmtp } from '../support/smtp-client.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "127.0.0.25:9"
`);
});
afterAll(() => gw.stop());

async function open(): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

test.each(['<no-at-sign>', '<a@>', '<@example.com>', '<a@-bad-.example>', '<a@exa mple.com>', 'no-brackets@example.com extra', '<a@b..c>'])('MAIL FROM:%s is refused', async (addr) => {
  const c = await open();
  const r = await c.cmd(`MAIL FROM:${addr}`);
  expect(r?.code).toBeGreaterThanOrEqual(500);
  expect(r?.code).toBeLessThan(600);
  c.close();
});

test.each(['<no-at-sign>', '<a@>', '<user@[300.1.1.1]>', '<a@-bad-.example>', '<x@y@z>'])('RCPT TO:%s is refused', async (addr) => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  const r = await c.cmd(`RCPT TO:${addr}`);
  expect(r?.code).toBeGreaterThanOrEqual(500);
  c.close();
});

test('the null sender <> is accepted (bounces must be deliverable)', async () => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<>'))?.code).toBe(250);
  c.close();
});

test('garbage and overlong lines get an error reply and the node keeps serving', async () => {
  const c = await open();
  expect((await c.cmd('\u00ff\u00fe garbage'))?.code).toBeGreaterThanOrEqual(500);
  c.write(`${'A'.repeat(20_000)}\r\n`);
  await c.read();
  c.close();
  const d = await open();
  expect((await d.cmd('NOOP'))?.code).toBe(250);
  d.close();
});
