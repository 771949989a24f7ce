// Feedback addresses take mail from any client, but never open a relay: an outsider's
// other recipients still get 550 5.7.1 at RCPT, a client on relay.networks cannot mix
// feedback and other recipients in one transaction (452 4.5.3: send them again apart),
// and nothing sent to a feedback address is relayed onward.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startBuiltGateway, type BuiltGateway } from '../support/feedback.js';

let mx: TestMx;
let gw: BuiltGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.72' });
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.72:${mx.port}` }, `
[feedback]
addresses = ["fbl@feedback.example.com", "JMRP@feedback.example.com"]
`,
    ));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

async function session(localAddress?: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), localAddress ? { localAddress } : {});
  await c.read();
  await c.cmd('EHLO client.test');
  return c;
}

test('an outsider reaches the feedback addresses and nothing else', async () => {
  const c = await session('127.0.0.97');
  expect((await c.cmd('MAIL FROM:<spammer@example.org>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<victim@example.net>'))?.text).toMatch(/^5\.7\.1 Relaying denied/);
  expect((await c.cmd('RCPT TO:<jmrp@feedback.example.com>'))?.code).toBe(250);
  const after = await c.cmd('RCPT TO:<victim2@example.net>');
  expect(after?.code).toBe(550);
  expect(after?.text).toMatch(/^5\.7\.1 Relaying denied/);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ to: 'victim@example.net', subject: 'buy now' })}.\r\n`);
  const end = await c.read();
  expect(end?.code).toBe(250);
  expect(end?.text).toBe('2.0.0 Ok: not a feedback report, discarded');
  // A second transaction in the same session is judged afresh.
  expect((await c.cmd('MAIL FROM:<spammer@example.org>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<victim@example.net>'))?.code).toBe(550);
  c.close();
  expect(gw.node.scheduler.depth).toBe(0);
  expect(mx.messages).toHaveLength(0);
});

test('a client on relay.networks sends feedback and other mail in separate transactions', async () => {
  const c = await session();
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<user@example.net>'))?.code).toBe(250);
  const mixed = await c.cmd('RCPT TO:<fbl@feedback.example.com>');
  expect(mixed?.code).toBe(452);
  expect(mixed?.text).toMatch(/^4\.5\.3 /);
  expect((await c.cmd('RSET'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<fbl@feedback.example.com>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<user@example.net>'))?.code).toBe(452);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ to: 'fbl@feedback.example.com' })}.\r\n`);
  expect((await c.read())?.code).toBe(250);
  // The same client's ordinary mail still relays.
  expect((await c.send('app@example.com', ['user@example.net'], message()))?.code).toBe(250);
  c.close();
  const [m] = await mx.waitFor(1);
  expect(m?.rcpts).toEqual(['user@example.net']);
  expect(mx.messages).toHaveLength(1);
});
