// Loop protection (RFC 5321 §6.3): a message with more Received fields than
// [relay] max_received (default 50) is refused at the end of DATA with 554 5.4.6 and
// never queued; at the limit it is relayed.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let gw: TestGateway;
let small: TestGateway;

const config = (port: number, extra = '') => `
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
${extra}
[dns.static]
"*" = "127.0.0.27:${port}"
`;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.27' });
  gw = await startGateway(config(mx.port));
  small = await startGateway(config(mx.port, 'max_received = 3'));
});
afterAll(async () => {
  await gw.stop();
  await small.stop();
  await mx.close();
});

const hops = (n: number) => Array.from({ length: n }, (_, i) => `Received: from hop${i}.example by hop${i + 1}.example; Sat, 28 Nov 2026 10:00:00 +0000`);

async function send(g: TestGateway, rcpt: string, n: number) {
  const c = await RawSmtp.open(g.port());
  await c.read();
  await c.cmd('EHLO app.test');
  const r = await c.send('app@example.com', [rcpt], message({ to: rcpt, headers: hops(n) }));
  const after = await c.cmd('NOOP');
  c.close();
  return { r, after };
}

test('51 Received fields: 554 5.4.6, nothing queued or relayed, the session goes on', async () => {
  const { r, after } = await send(gw, 'loop51@example.net', 51);
  expect(r?.code).toBe(554);
  expect(r?.text).toMatch(/^5\.4\.6 Too many hops/);
  expect(after?.code).toBe(250);
  expect(gw.node.queueRows().reduce((a, q) => a + q.depth, 0)).toBe(0);
});

test('50 Received fields (the default limit) are relayed', async () => {
  const { r } = await send(gw, 'loop50@example.net', 50);
  expect(r?.code).toBe(250);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('loop50@example.net')));
});

test('100 000 Received fields: 554 5.4.6', async () => {
  const { r, after } = await send(gw, 'loop100k@example.net', 100_000);
  expect(r?.code).toBe(554);
  expect(r?.text).toMatch(/^5\.4\.6 /);
  expect(after?.code).toBe(250);
});

test('max_received is taken from the config', async () => {
  expect((await send(small, 'small3@example.net', 3)).r?.code).toBe(250);
  expect((await send(small, 'small4@example.net', 4)).r?.code).toBe(554);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('small3@example.net')));
  expect(mx.messages.some((x) => x.rcpts.includes('loop51@example.net') || x.rcpts.includes('loop100k@example.net') || x.rcpts.includes('small4@example.net'))).toBe(false);
});
