// Complaints feed the source health of [pools.X.health]: once complaints over deliveries
// toward a provider pass max_complaint_rate (with min_volume outcomes in the window), the
// source is held toward that provider (source_held, reason complaint_rate), and a
// complaint_rate alert rises.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, startBuiltGateway, waitForEventLine, type BuiltGateway } from '../support/feedback.js';

const SOURCE_IP = '127.0.0.76';
let mx: TestMx;
let gw: BuiltGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.75' });
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.75:${mx.port}`, source: { name: 'promo1', ip: SOURCE_IP } }, `
[pools.transactional.health]
max_complaint_rate = 0.2
min_volume = 5
window = "10m"
hold_for = "10m"
[providers.yahoo]
domains = ["yahoo.test"]
[events]
file = "\${DIR}/events.jsonl"
[[alerts]]
metric = "complaint_rate"
scope = "source"
threshold = 0.2
min_volume = 5
[feedback]
addresses = ["fbl@feedback.example.com"]
`,
    ));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

test('complaints past max_complaint_rate hold the source toward the provider', async () => {
  const app = await RawSmtp.open(gw.port());
  await app.read();
  await app.cmd('EHLO app.test');
  for (let i = 0; i < 5; i++) expect((await app.send('news@example.com', [`r${i}@yahoo.test`], message({ to: `r${i}@yahoo.test` })))?.code).toBe(250);
  app.close();
  const delivered = await mx.waitFor(5);
  await waitForEventLine(gw.events, (e) => e.event === 'delivered' && e['recipient'] === 'r4@yahoo.test');

  const yahoo = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.95' });
  await yahoo.read();
  await yahoo.cmd('EHLO mta1009.arf.mail.yahoo.com');
  // One complaint in five deliveries is 20%: not over the limit yet.
  expect((await yahoo.send('', ['fbl@feedback.example.com'], arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'news@example.com', original: delivered[0]?.raw ?? '' })))?.code).toBe(250);
  await gw.node.observer?.alerts.evaluate();
  expect(gw.node.observer?.alerts.active()).toHaveLength(0);
  expect((await yahoo.send('', ['fbl@feedback.example.com'], arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'news@example.com', original: delivered[1]?.raw ?? '' })))?.code).toBe(250);
  yahoo.close();

  const held = await waitForEventLine(gw.events, (e) => e.event === 'source_held');
  expect(held).toMatchObject({ source: 'promo1', provider: 'yahoo', reason: 'complaint_rate', by: 'health' });

  await gw.node.observer?.alerts.evaluate();
  expect(gw.node.observer?.alerts.active()).toMatchObject([{ metric: 'complaint_rate', scope: 'source', key: 'promo1', value: 0.4 }]);
});
