// A complaint reaches a webhook like every other outcome: a Yahoo-style ARF report about a
// message the node delivered becomes a `complained` record, and a webhook subscribed to
// `complained` alone gets one signed POST carrying it (recipient, source, provider, the
// feedback object) and nothing of the delivery before it.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { EventRecord } from '../../gateway/observe/event-types.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, startBuiltGateway, type BuiltGateway } from '../support/feedback.js';
import { startWebhookReceiver, verifySignature, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'whsec-complaints-0123456789';
const SOURCE_IP = '127.0.0.81';
let mx: TestMx;
let hook: WebhookReceiver;
let gw: BuiltGateway;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.80' });
  hook = await startWebhookReceiver();
  gw = await startBuiltGateway(`
[node]
data_dir = "\${DIR}/data"
hostname = "gw.sluice.test"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.80:${mx.port}"
[sources.promo1]
ip = "${SOURCE_IP}"
ehlo = "promo1.sluice.test"
[pools.promotional]
sources = ["promo1"]
[classify]
default = "promotional"
[providers.yahoo]
domains = ["yahoo.test"]
[[events.webhooks]]
url = "${hook.url}"
events = ["complained"]
secret = "${SECRET}"
[feedback]
addresses = ["fbl@feedback.example.com"]
`);
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await hook?.close();
});

async function session(localAddress?: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), localAddress ? { localAddress } : {});
  await c.read();
  await c.cmd('EHLO client.test');
  return c;
}

test('a complaint is posted, signed, to the webhook that asked for complained', async () => {
  const app = await session();
  expect((await app.send('news@example.com', ['reader@yahoo.test'], message({ from: 'news@example.com', to: 'reader@yahoo.test', headers: ['X-Campaign-ID: spring-sale'] })))?.code).toBe(250);
  app.close();
  const [delivered] = await mx.waitFor(1);
  const original = delivered?.raw.toString('latin1') ?? '';

  // Yahoo CFL redacts the complaining address; our X-Sluice-FBL reference still names it.
  const report = arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'news@example.com', original, redact: (m) => m.replaceAll('reader@yahoo.test', 'redacted@yahoo.test'), reportId: 'cfl-hook-1' });
  const yahoo = await session('127.0.0.98');
  expect((await yahoo.send('', ['fbl@feedback.example.com'], report))?.code).toBe(250);
  yahoo.close();

  await hook.until(1);
  const [post] = hook.requests;
  expect(post?.headers['content-type']).toBe('application/json');
  expect(post?.headers['user-agent']).toBe('sluice-webhooks/1');
  const signature = String(post?.headers['x-sluice-signature']);
  expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  const now = Math.floor(Date.now() / 1000);
  expect(verifySignature(SECRET, signature, post?.body ?? '', now)).toBe(true);
  expect(verifySignature('not-the-secret-0123456789', signature, post?.body ?? '', now)).toBe(false);

  // Only the complaint: the queued and delivered records of the same message are not this webhook's.
  const records = JSON.parse(post?.body ?? '[]') as EventRecord[];
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({
    event: 'complained',
    recipient: 'reader@yahoo.test',
    source: 'promo1',
    provider: 'yahoo',
    pool: 'promotional',
    campaign: 'spring-sale',
    mail_from: 'news@example.com',
    feedback: { type: 'abuse', reporter: 'feedback@arf.mail.yahoo.com', user_agent: 'Yahoo!-Mail-Feedback/2.0', matched_by: 'header' },
  });
  expect(hook.requests).toHaveLength(1);
});
