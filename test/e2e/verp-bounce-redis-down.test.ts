// A bounce that reaches a cluster node while Redis is unreachable is never dropped
// because the duplicate check cannot ask the fleet: it becomes its `bounced` outcome, the
// node logs once that duplicates are checked on this node only (`bounce_duplicates_local`),
// and the same bounce again is still caught there, in the node's memory, before and after
// Redis is back.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { readEvents, startBuiltGateway, type BuiltGateway, type EventLine } from '../support/feedback.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis) console.warn('redis-server is not installed: bounce-while-redis-down test skipped');

let redis: PrivateRedis;
let mx: RawMx;
let node: BuiltGateway;
const log: EventLine[] = [];

function config(nodeId: string): string {
  return `
[node]
id = "${nodeId}"
data_dir = "\${DIR}/data"
hostname = "${nodeId}.sluice.test"
[cluster]
redis_url = "${redis.url}"
key_prefix = "down:"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.89:${mx.port}"
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
    "The email account that you tried to reach is disabled.",
    '',
    '--g',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.2.1',
    'Diagnostic-Code: smtp; 550-5.2.1 The email account that you tried to reach is disabled.',
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
  mx = await startRawMx('127.0.0.89');
  node = await startBuiltGateway(config('gw-a'), log);
});
afterAll(async () => {
  await node?.stop();
  await mx?.close();
  await redis?.stop();
});

test.skipIf(!hasRedis)('a bounce while Redis is away becomes its outcome; the same one again is a duplicate on this node', async () => {
  const app = await RawSmtp.open(node.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('news@example.com', ['closed@gmail.test'], message({ from: 'news@example.com', to: 'closed@gmail.test' })))?.code).toBe(250);
  app.close();
  await expect.poll(() => mx.transactions.length, { timeout: 10_000 }).toBe(1);
  const returnPath = /^MAIL FROM:<([^>]+)>/.exec(mx.transactions[0]?.lines[0] ?? '')?.[1] ?? '';
  await expect.poll(() => readEvents(node.events).some((e) => e.event === 'delivered'), { timeout: 10_000 }).toBe(true);

  await redis.kill();
  await expect.poll(() => node.node.state.healthy(), { timeout: 5_000 }).toBe(false);
  await mailBack(node, returnPath, dsn('closed@gmail.test'));
  await expect.poll(() => log.find((l) => l.event === 'bounce_received'), { timeout: 10_000 }).toMatchObject({ rcpt: 'closed@gmail.test', reason: 'suspend' });
  expect(log.filter((l) => l.event === 'bounce_duplicates_local')).toHaveLength(1);
  await mailBack(node, returnPath, dsn('closed@gmail.test'));
  await expect.poll(() => log.filter((l) => l.event === 'bounce_duplicate').length, { timeout: 10_000 }).toBe(1);

  await redis.restart();
  await expect.poll(() => node.node.state.healthy(), { timeout: 10_000 }).toBe(true);
  await mailBack(node, returnPath, dsn('closed@gmail.test'));
  await expect.poll(() => log.filter((l) => l.event === 'bounce_duplicate').length, { timeout: 10_000 }).toBe(2);
  expect(log.filter((l) => l.event === 'bounce_duplicates_local')).toHaveLength(1);

  await node.node.observer?.eventLog?.flush();
  expect(readEvents(node.events).filter((e) => e.event === 'bounced')).toHaveLength(1);
});
