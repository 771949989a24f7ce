// While Redis is down, a provider with a message rate keeps delivering at this node's share
// of the rate (DESIGN.md "State").
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { providerZone, recipients, startNode, submit, type ShapingNode } from './harness.js';

const hasRedis = redisServerPath() !== null;
let mx: TestMx;
let dns: TestDnsServer;
let redis: PrivateRedis;
let gw: ShapingNode;

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.67' });
  dns = await startDnsServer(providerZone('rated.test', 5, 'mx.ratedmail.test', '127.0.0.67'));
  gw = await startNode(`
[node]
id = "r1"
data_dir = "\${DIR}/data"
drain_timeout = "1s"
[cluster]
redis_url = "${redis.url}"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns]
servers = ["${dns.address}"]
[delivery]
port = ${mx.port}
[sources.a]
ip = "127.0.0.68"
ehlo = "a.shaping.test"
[pools.transactional]
sources = ["a"]
[providers.ratedmail]
mx_suffixes = [".ratedmail.test"]
max_message_rate = "20/s"
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
  await redis?.stop();
});

test.skipIf(!hasRedis)('rate-limited mail keeps flowing while Redis is down', async () => {
  await submit(gw.port, recipients('u', 5, 'rated.test', 5).map((to) => ({ to: [to] })));
  await mx.waitFor(5, 10_000);
  await redis.kill();
  await gw.waitForEvent('state_degraded');
  await submit(gw.port, recipients('v', 5, 'rated.test', 5).map((to) => ({ to: [to] })));
  await mx.waitFor(10, 6_000);
  expect(mx.messages).toHaveLength(10);
});
