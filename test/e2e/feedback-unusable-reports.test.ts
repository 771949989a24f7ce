// What is not a countable complaint still gets the documented 250 and leaves the node
// serving: a malformed report and a plain message are forwarded to forward_other (from the
// null sender), a not-spam report is logged and counted but changes nothing, and a report
// about mail this fleet did not send is not counted.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, metricValue, readEvents, startBuiltGateway, type BuiltGateway } from '../support/feedback.js';

const SOURCE_IP = '127.0.0.78';
let mx: TestMx;
let gw: BuiltGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.77' });
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.77:${mx.port}`, source: { name: 'tx1', ip: SOURCE_IP } }, `
[suppression]
[events]
file = "\${DIR}/events.jsonl"
[feedback]
addresses = ["fbl@feedback.example.com"]
forward_other = "postmaster@example.com"
`,
    ));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

async function provider(): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.94' });
  await c.read();
  await c.cmd('EHLO reports.provider.test');
  return c;
}

const MALFORMED = [
  'From: <feedback@provider.test>',
  'To: <fbl@feedback.example.com>',
  'Subject: abuse report',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=feedback-report; boundary="x"',
  '',
  '--x',
  'Content-Type: text/plain',
  '',
  'Someone complained, but the machine-readable part went missing.',
  '--x--',
  '',
].join('\r\n');

test('malformed reports and plain mail are forwarded, other feedback types are not complaints', async () => {
  const c = await provider();
  const bad = await c.send('', ['fbl@feedback.example.com'], MALFORMED);
  expect(bad?.code).toBe(250);
  expect(bad?.text).toMatch(/^2\.0\.0 Ok: queued as \w+$/);
  const confirm = await c.send('jmrp-noreply@microsoft.test', ['fbl@feedback.example.com'], message({ from: 'jmrp-noreply@microsoft.test', to: 'fbl@feedback.example.com', subject: 'Please confirm your JMRP enrolment' }));
  expect(confirm?.code).toBe(250);
  const forwarded = await mx.waitFor(2);
  expect(forwarded.map((m) => m.rcpts)).toEqual([['postmaster@example.com'], ['postmaster@example.com']]);
  expect(forwarded.map((m) => m.mailFrom)).toEqual(['', '']);
  expect(forwarded[1]?.raw.toString('latin1')).toContain('Subject: Please confirm your JMRP enrolment');

  // Send a real message so a not-spam report can name it.
  const app = await RawSmtp.open(gw.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('app@example.com', ['kept@example.net'], message({ to: 'kept@example.net' })))?.code).toBe(250);
  app.close();
  const [original] = (await mx.waitFor(3)).slice(2);
  const notSpam = arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'app@example.com', original: original?.raw ?? '' }).replace('Feedback-Type: abuse', 'Feedback-Type: not-spam');
  expect((await c.send('', ['fbl@feedback.example.com'], notSpam))?.code).toBe(250);
  // A report about someone else's mail: no header of ours, no Received of ours, a foreign Source-IP.
  const foreign = arfReport('microsoft-jmrp', { sourceIp: '203.0.113.9', mailFrom: 'x@elsewhere.test', rcpt: 'victim@example.net', original: message({ to: 'victim@example.net' }) });
  expect((await c.send('', ['fbl@feedback.example.com'], foreign))?.code).toBe(250);
  c.close();

  await gw.node.observer?.eventLog?.flush();
  expect(readEvents(gw.events).filter((e) => e.event === 'complained')).toHaveLength(0);
  expect(await gw.node.state.suppression.check('kept@example.net')).toBeNull();
  expect(await gw.node.state.suppression.check('victim@example.net')).toBeNull();
  const text = await gw.node.registry.metrics();
  expect(metricValue(text, 'sluice_feedback_reports_total', { type: 'none', result: 'malformed' })).toBe(1);
  expect(metricValue(text, 'sluice_feedback_reports_total', { type: 'none', result: 'not_report' })).toBe(1);
  expect(metricValue(text, 'sluice_feedback_reports_total', { type: 'not-spam', result: 'ignored' })).toBe(1);
  expect(metricValue(text, 'sluice_feedback_reports_total', { type: 'abuse', result: 'uncorrelated' })).toBe(1);
  expect(metricValue(text, 'sluice_messages_complained_total')).toBe(0);

  // The node keeps serving.
  const app2 = await RawSmtp.open(gw.port());
  await app2.read();
  await app2.cmd('EHLO app.test');
  expect((await app2.send('app@example.com', ['after@example.net'], message({ to: 'after@example.net' })))?.code).toBe(250);
  app2.close();
  await mx.waitFor(4);
});
