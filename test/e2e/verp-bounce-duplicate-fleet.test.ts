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
import { gmailDsn, mailBack, verpNodeConfig } from '../support/verp-fleet.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis) console.warn('redis-server is not installed: fleet bounce duplicate test skipped');

let redis: PrivateRedis;
let mx: RawMx;
let a: BuiltGateway;
let b: BuiltGateway;
const logA: EventLine[] = [];
const logB: EventLine[] = [];

const config = (nodeId: string) => verpNodeConfig({ nodeId, mx: `127.0.0.91:${mx.port}`, redisUrl: redis.url, keyPrefix: 'dup:' });
const dsn = (rcpt: string) => gmailDsn(rcpt, '5.1.1', 'The email account that you tried to reach does not exist.');

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
