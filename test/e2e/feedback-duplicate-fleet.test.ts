// The same ARF complaint mailed to two nodes of a fleet (a provider sending its report to
// another MX host of the feedback domain, or twice) counts once fleet-wide: one
// `complained` outcome, one count in sluice_messages_complained_total, and a
// `feedback_duplicate` log line on the node that got it second. Both nodes share one
// private Redis; the duplicate check is a claim there (state/types.ts ClaimStore).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, metricValue, readEvents, startBuiltGateway, type BuiltGateway, type EventLine } from '../support/feedback.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const hasRedis = redisServerPath() !== null;
if (!hasRedis) console.warn('redis-server is not installed: fleet feedback duplicate test skipped');

const SOURCE_IP = '127.0.0.87';
let redis: PrivateRedis;
let mx: TestMx;
let a: BuiltGateway;
let b: BuiltGateway;
const logB: EventLine[] = [];

function config(nodeId: string): string {
  return relayConfig({ mx: `127.0.0.86:${mx.port}`, node: `id = "${nodeId}"\nhostname = "${nodeId}.sluice.test"`, source: { name: 'promo1', ip: SOURCE_IP }, pool: 'promotional' }, `
[cluster]
redis_url = "${redis.url}"
key_prefix = "fbldup:"
[classify]
default = "promotional"
[providers.yahoo]
domains = ["yahoo.test"]
[events]
file = "\${DIR}/events.jsonl"
[feedback]
addresses = ["fbl@feedback.example.com"]
secret = "fleet-feedback-secret-0123456789"
`);
}

async function report(node: BuiltGateway, text: string): Promise<void> {
  const c = await RawSmtp.open(node.port(), { localAddress: '127.0.0.98' });
  await c.read();
  await c.cmd('EHLO mta.yahoo.test');
  expect((await c.send('', ['fbl@feedback.example.com'], text))?.code).toBe(250);
  c.close();
}

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.86' });
  a = await startBuiltGateway(config('gw-a'));
  b = await startBuiltGateway(config('gw-b'), logB);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await mx?.close();
  await redis?.stop();
});

test.skipIf(!hasRedis)('the same complaint mailed to two nodes gives one complained outcome fleet-wide and a duplicate on the second', async () => {
  const app = await RawSmtp.open(a.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('news@example.com', ['reader@yahoo.test'], message({ from: 'news@example.com', to: 'reader@yahoo.test' })))?.code).toBe(250);
  app.close();
  const [delivered] = await mx.waitFor(1);
  const arf = arfReport('yahoo-cfl', { sourceIp: SOURCE_IP, mailFrom: 'news@example.com', original: delivered?.raw ?? '', reportId: 'cfl-dup' });

  await report(a, arf);
  await expect.poll(() => readEvents(a.events).some((e) => e.event === 'complained'), { timeout: 10_000 }).toBe(true);
  await report(b, arf);
  await expect.poll(() => logB.find((l) => l.event === 'feedback_duplicate'), { timeout: 10_000 }).toBeDefined();

  await a.node.observer?.eventLog?.flush();
  await b.node.observer?.eventLog?.flush();
  expect([...readEvents(a.events), ...readEvents(b.events)].filter((e) => e.event === 'complained')).toHaveLength(1);
  const counted = async (n: BuiltGateway) => metricValue(await n.node.registry.metrics(), 'sluice_messages_complained_total');
  expect((await counted(a)) + (await counted(b))).toBe(1);
  expect(metricValue(await b.node.registry.metrics(), 'sluice_feedback_reports_total', { type: 'abuse', result: 'duplicate' })).toBe(1);
});
