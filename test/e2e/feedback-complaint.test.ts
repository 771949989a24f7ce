// A Yahoo-style ARF complaint (recipient redacted, only our X-Sluice-FBL names it) sent from
// outside relay.networks is accepted (250) and becomes a `complained` outcome: the event
// line names recipient, source and provider, sluice_messages_complained_total counts it,
// the recipient is suppressed (reason complaint, source: the report) so the next message
// to it is refused 550 5.7.1, and the same report again is not counted twice.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, metricValue, readEvents, startBuiltGateway, type BuiltGateway } from '../support/feedback.js';

const TOKEN = 'fbl-test-token-0123456789';
const SOURCE_IP = '127.0.0.71';
let mx: TestMx;
let gw: BuiltGateway;
let admin: string;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.70' });
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.70:${mx.port}`, node: 'hostname = "gw.sluice.test"', source: { name: 'promo1', ip: SOURCE_IP }, pool: 'promotional', admin: { port, token: TOKEN } }, `
[classify]
default = "promotional"
[suppression]
action = "reject"
[providers.yahoo]
domains = ["yahoo.test"]
[events]
file = "\${DIR}/events.jsonl"
[feedback]
addresses = ["fbl@feedback.example.com"]
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

async function suppressed(rcpt: string): Promise<void> {
  // The suppression plugin writes on its own (observers are never awaited): wait for the entry.
  for (let i = 0; i < 400 && (await gw.node.state.suppression.check(rcpt)) === null; i++) await new Promise((r) => setTimeout(r, 10));
}

test('a complaint from a provider outside relay.networks counts, names the message, and suppresses the recipient', async () => {
  const app = await session();
  expect((await app.send('news@example.com', ['reader@yahoo.test'], message({ from: 'news@example.com', to: 'reader@yahoo.test', headers: ['X-Campaign-ID: spring-sale'] })))?.code).toBe(250);
  app.close();
  const [delivered] = await mx.waitFor(1);
  expect(delivered?.peerIp).toBe(SOURCE_IP);
  const original = delivered?.raw.toString('latin1') ?? '';
  expect(original).toMatch(/^X-Sluice-FBL: 1\.[A-Za-z0-9_-]+\r$/m);

  // Yahoo CFL redacts the complaining address from the original it returns.
  const report = arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'news@example.com', original, redact: (m) => m.replaceAll('reader@yahoo.test', 'redacted@yahoo.test'), reportId: 'cfl-1' });
  const yahoo = await session('127.0.0.98');
  const r = await yahoo.send('', ['fbl@feedback.example.com'], report);
  expect(r?.code).toBe(250);
  expect(r?.text).toBe('2.0.0 Ok: feedback report received');

  await gw.node.observer?.eventLog?.flush();
  const complaints = readEvents(gw.events).filter((e) => e.event === 'complained');
  expect(complaints).toHaveLength(1);
  const queued = readEvents(gw.events).find((e) => e.event === 'delivered');
  expect(complaints[0]).toMatchObject({
    recipient: 'reader@yahoo.test',
    source: 'promo1',
    provider: 'yahoo',
    pool: 'promotional',
    class: 'promotional',
    queue_id: queued?.['queue_id'],
    campaign: 'spring-sale',
    mail_from: 'news@example.com',
    feedback: { type: 'abuse', reporter: 'feedback@arf.mail.yahoo.com', user_agent: 'Yahoo!-Mail-Feedback/2.0', matched_by: 'header' },
  });

  const metrics = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  expect(metricValue(metrics, 'sluice_messages_complained_total', { source: 'promo1', provider: 'yahoo', pool: 'promotional', class: 'promotional', campaign: 'spring-sale' })).toBe(1);
  expect(metricValue(metrics, 'sluice_feedback_reports_total', { type: 'abuse', result: 'complaint' })).toBe(1);

  await suppressed('reader@yahoo.test');
  const entry = await gw.node.state.suppression.check('reader@yahoo.test');
  expect(entry).toMatchObject({ reason: 'complaint' });
  expect(entry?.source).toContain('feedback report (abuse) from feedback@arf.mail.yahoo.com');

  const again = await session();
  expect((await again.cmd('MAIL FROM:<news@example.com>'))?.code).toBe(250);
  const refused = await again.cmd('RCPT TO:<reader@yahoo.test>');
  expect(refused?.code).toBe(550);
  expect(refused?.text).toBe('5.7.1 Recipient suppressed: complaint');
  again.close();

  // The same report once more (a resend): accepted, logged, not counted again.
  expect((await yahoo.send('', ['fbl@feedback.example.com'], report))?.code).toBe(250);
  yahoo.close();
  await gw.node.observer?.eventLog?.flush();
  expect(readEvents(gw.events).filter((e) => e.event === 'complained')).toHaveLength(1);
  const after = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  expect(metricValue(after, 'sluice_messages_complained_total')).toBe(1);
  expect(metricValue(after, 'sluice_feedback_reports_total', { type: 'abuse', result: 'duplicate' })).toBe(1);
});
