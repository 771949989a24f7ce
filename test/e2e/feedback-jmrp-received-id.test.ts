// A Microsoft JMRP-style report carrying only the original's header (text/rfc822-headers)
// and no X-Sluice-FBL (header = false) is tied to the message by our Received id and to
// the source by Source-IP; the recipient comes from Original-Rcpt-To and the provider
// from the recipient's domain, as shaping names it. Anyone can copy a Received id or a
// source's IP, so such a report counts only from [feedback] trusted_reporters.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, readEvents, startBuiltGateway, type BuiltGateway } from '../support/feedback.js';

const SOURCE_IP = '127.0.0.74';
let mx: TestMx;
let gw: BuiltGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.73' });
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.73:${mx.port}`, node: 'hostname = "gw.sluice.test"', source: { name: 'tx1', ip: SOURCE_IP } }, `
[providers.outlook]
domains = ["hotmail.test"]
[events]
file = "\${DIR}/events.jsonl"
[feedback]
addresses = ["fbl@feedback.example.com"]
header = false
trusted_reporters = ["127.0.0.96/32"]
`,
    ));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

test('a JMRP report without our header is matched by Received id and Source-IP', async () => {
  const app = await RawSmtp.open(gw.port());
  await app.read();
  await app.cmd('EHLO app.test');
  const sent = await app.send('billing@example.com', ['someone@hotmail.test', 'other@hotmail.test'], message({ from: 'billing@example.com', to: 'someone@hotmail.test' }));
  app.close();
  const queueId = /queued as (\w+)/.exec(sent?.text ?? '')?.[1];
  const [delivered] = await mx.waitFor(1);
  const original = delivered?.raw.toString('latin1') ?? '';
  expect(original).not.toContain('X-Sluice-FBL');

  const report = arfReport('microsoft-jmrp', { sourceIp: SOURCE_IP, mailFrom: 'billing@example.com', rcpt: 'someone@hotmail.test', original });
  // The same report from a client outside trusted_reporters counts nothing.
  const stranger = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.97' });
  await stranger.read();
  await stranger.cmd('EHLO forger.test');
  expect((await stranger.send('staff@hotmail.com', ['fbl@feedback.example.com'], report))?.code).toBe(250);
  stranger.close();
  await gw.node.observer?.eventLog?.flush();
  expect(readEvents(gw.events).filter((e) => e.event === 'complained')).toHaveLength(0);
  const metrics = await gw.node.registry.getSingleMetricAsString('sluice_feedback_reports_total');
  expect(metrics).toContain('sluice_feedback_reports_total{type="abuse",result="unverified"} 1');
  expect(await gw.node.state.suppression.check('someone@hotmail.test')).toBeNull();

  const c = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.96' });
  await c.read();
  await c.cmd('EHLO bn8nam12ht123.eop-nam12.prod.protection.outlook.com');
  const r = await c.send('staff@hotmail.com', ['fbl@feedback.example.com'], report);
  c.close();
  expect(r?.code).toBe(250);
  await gw.node.observer?.eventLog?.flush();
  const [complaint, ...more] = readEvents(gw.events).filter((e) => e.event === 'complained');
  expect(more).toHaveLength(0);
  expect(complaint).toMatchObject({
    queue_id: queueId,
    recipient: 'someone@hotmail.test',
    source: 'tx1',
    provider: 'outlook',
    pool: 'transactional',
    feedback: { type: 'abuse', reporter: 'staff@hotmail.com', user_agent: 'Hotmail FBL', matched_by: 'received' },
  });
});
