// The same bounce mailed to two nodes of a fleet (a provider retrying at another MX host
// of the bounce domain, or sending twice) counts once fleet-wide: one `bounced` outcome,
// one count in sluice_messages_bounced_total and in the (source, provider) health window,
// and a `bounce_duplicate` log line on the node that got it second. Both nodes share one
// private Redis; the duplicate check is a claim there (state/types.ts ClaimStore).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { metricValue, readEvents, startBuiltGateway, type BuiltGateway, type EventLine } from '../support/feedback.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis) console.warn('redis-server is not installed: fleet bounce duplicate test skipped');

let redis: PrivateRedis;
let mx: RawMx;
let a: BuiltGateway;
let b: BuiltGateway;
const logA: EventLine[] = [];
const logB: EventLine[] = [];

function config(nodeId: string): string {
  return `
[node]
id = "${nodeId}"
data_dir = "\${DIR}/data"
hostname = "${nodeId}.sluice.test"
[cluster]
redis_url = "${redis.url}"
key_prefix = "dup:"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.91:${mx.port}"
[sources.promo1]
ip = "127.0.0.93"
ehlo = "promo1.sluice.test"
[pools.promotional]
sources = ["promo1"]
[classify]
default = "promotional"
[providers.gmail]
domains = ["gmail.test"]
[events]
file = "\${DIR}/events.jsonl"
[bounces]
domain = "bounces.sluice.test"
secret = "fleet-verp-secret-0123456789"
`;
}

function dsn(rcpt: string): string {
  return [
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'Subject: Delivery Status Notification (Failure)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="g"',
    '',
    '--g',
    'Content-Type: text/plain',
    '',
    "The email account that you tried to reach does not exist.",
    '',
    '--g',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.',
    '',
    '--g--',
    '',
  ].join('\r\n');
}

async function mailBack(node: BuiltGateway, to: string, text: string): Promise<void> {
  const c = await RawSmtp.open(node.port(), { localAddress: '127.0.0.97' });
  await c.read();
  await c.cmd('EHLO mail-sor-f41.google.com');
  expect((await c.send('', [to], text))?.code).toBe(250);
  c.close();
}

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startRawMx('127.0.0.91');
  a = await startBuiltGateway(config('gw-a'), logA);
  b = await startBuiltGateway(config('gw-b'), logB);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await mx?.close();
  await redis?.stop();
});

test.skipIf(!hasRedis)('the same bounce mailed to two nodes gives one bounced outcome fleet-wide and a duplicate on the second', async () => {
  const app = await RawSmtp.open(a.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('news@example.com', ['gone@gmail.test'], message({ from: 'news@example.com', to: 'gone@gmail.test' })))?.code).toBe(250);
  app.close();
  await expect.poll(() => mx.transactions.length, { timeout: 10_000 }).toBe(1);
  const returnPath = /^MAIL FROM:<([^>]+)>/.exec(mx.transactions[0]?.lines[0] ?? '')?.[1] ?? '';
  expect(returnPath).toMatch(/^b\+[0-9a-z]{17}-r/);
  await expect.poll(() => readEvents(a.events).some((e) => e.event === 'delivered'), { timeout: 10_000 }).toBe(true);

  await mailBack(a, returnPath, dsn('gone@gmail.test'));
  await expect.poll(() => logA.find((l) => l.event === 'bounce_received'), { timeout: 10_000 }).toBeDefined();
  await mailBack(b, returnPath, dsn('gone@gmail.test'));
  await expect.poll(() => logB.find((l) => l.event === 'bounce_duplicate'), { timeout: 10_000 }).toMatchObject({ rcpt: 'gone@gmail.test', matched_by: 'token' });
  // And again at the first node (the provider's third try): a duplicate there too.
  await mailBack(a, returnPath, dsn('gone@gmail.test'));
  await expect.poll(() => logA.find((l) => l.event === 'bounce_duplicate'), { timeout: 10_000 }).toBeDefined();

  await a.node.observer?.eventLog?.flush();
  await b.node.observer?.eventLog?.flush();
  const bounced = [...readEvents(a.events), ...readEvents(b.events)].filter((e) => e.event === 'bounced');
  expect(bounced).toHaveLength(1);
  expect(bounced[0]).toMatchObject({ recipient: 'gone@gmail.test', source: 'promo1', provider: 'gmail', bounce: { reason: 'userunknown', hard: true } });
  expect(logB.filter((l) => l.event === 'bounce_received')).toEqual([]);
  const counted = (text: string) => metricValue(text, 'sluice_messages_bounced_total', { source: 'promo1', provider: 'gmail' });
  expect(counted(await a.node.registry.metrics()) + counted(await b.node.registry.metrics())).toBe(1);
  expect(metricValue(await b.node.registry.metrics(), 'sluice_bounces_received_total', { result: 'duplicate' })).toBe(1);
  expect((await b.node.state.health.counts('promo1', 'gmail', 3_600_000)).bounced).toBe(1);
});
