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
import { gmailDsn, mailBack, verpNodeConfig } from '../support/verp-fleet.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis) console.warn('redis-server is not installed: bounce-while-redis-down test skipped');

let redis: PrivateRedis;
let mx: RawMx;
let node: BuiltGateway;
const log: EventLine[] = [];

const config = (nodeId: string) => verpNodeConfig({ nodeId, mx: `127.0.0.89:${mx.port}`, redisUrl: redis.url, keyPrefix: 'down:' });
const dsn = (rcpt: string) => gmailDsn(rcpt, '5.2.1', 'The email account that you tried to reach is disabled.');

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
