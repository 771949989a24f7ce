// Two nodes on one Redis hold a provider's fleet-wide limits together: each node has its
// own source, and [providers.X.total] caps the connections and the rate of both at once.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { providerZone, recipients, startNode, submit, watchTotalSessions, type ShapingNode } from './harness.js';

const hasRedis = redisServerPath() !== null;
let mx: TestMx;
let dns: TestDnsServer;
let redis: PrivateRedis;
const nodes: ShapingNode[] = [];

const config = (id: string) => `
[node]
id = "${id}"
data_dir = "\${DIR}/data"
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
ip = "127.0.0.62"
ehlo = "a.shaping.test"
node = "n1"
[sources.b]
ip = "127.0.0.63"
ehlo = "b.shaping.test"
node = "n2"
[pools.transactional]
sources = ["a", "b"]
[providers.fleetmail]
mx_suffixes = [".fleetmail.test"]
max_connections = 2
max_message_rate = "40/s"
[providers.fleetmail.total]
max_connections = 2
max_message_rate = "30/s"
`;

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.61', onData: () => new Promise((r) => setTimeout(() => r(null), 10)) });
  dns = await startDnsServer(providerZone('fleet.test', 20, 'mx.fleetmail.test', '127.0.0.61'));
  nodes.push(await startNode(config('n1')), await startNode(config('n2')));
});

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await mx?.close();
  await dns?.close();
  await redis?.stop();
});

test.skipIf(!hasRedis)('the provider total holds across two nodes', async () => {
  const [n1, n2] = nodes as [ShapingNode, ShapingNode];
  expect(n1.node.state.kind).toBe('redis');
  const watch = watchTotalSessions(mx);
  const r1 = recipients('x', 150, 'fleet.test', 20);
  const r2 = recipients('y', 150, 'fleet.test', 20);
  await Promise.all([
    submit(n1.port, Array.from({ length: 15 }, (_, k) => ({ to: r1.slice(k * 10, k * 10 + 10) }))),
    submit(n2.port, Array.from({ length: 15 }, (_, k) => ({ to: r2.slice(k * 10, k * 10 + 10) }))),
  ]);
  await mx.waitFor(300, 30_000);
  watch.stop();
  expect(watch.peak()).toBeLessThanOrEqual(2);
  expect(mx.stats('127.0.0.62').messages).toBe(150);
  expect(mx.stats('127.0.0.63').messages).toBe(150);
  const times = mx.messages.map((m) => m.at);
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  // 30 per second over the span plus one burst of 30, for both nodes together.
  expect(times.length).toBeLessThanOrEqual(30 * span + 3 + 1);
  expect(n1.node.state.degraded()).toBe(false);
});
