// [providers.X.total] caps the provider across every source: with two sources allowed 2
// sessions and 40/s each, a total of 3 sessions and 30/s holds for the sum.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { providerZone, recipients, startNode, submit, watchTotalSessions, type ShapingNode } from './harness.js';

let mx: TestMx;
let dns: TestDnsServer;
let gw: ShapingNode;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.43', onData: () => new Promise((r) => setTimeout(() => r(null), 10)) });
  dns = await startDnsServer(providerZone('tot.test', 20, 'mx1.totalmail.test', '127.0.0.43'));
  gw = await startNode(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns]
servers = ["${dns.address}"]
[delivery]
port = ${mx.port}
[sources.a]
ip = "127.0.0.44"
ehlo = "a.shaping.test"
[sources.b]
ip = "127.0.0.45"
ehlo = "b.shaping.test"
[pools.transactional]
sources = ["a", "b"]
[providers.totalmail]
mx_suffixes = [".totalmail.test"]
max_connections = 2
max_message_rate = "40/s"
[providers.totalmail.total]
max_connections = 3
max_message_rate = "30/s"
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
});

test('the provider total holds over all sources together', async () => {
  const watch = watchTotalSessions(mx);
  const rcpts = recipients('t', 200, 'tot.test', 20);
  await submit(gw.port, Array.from({ length: 20 }, (_, k) => ({ to: rcpts.slice(k * 10, k * 10 + 10) })));
  await mx.waitFor(200, 30_000);
  watch.stop();
  expect(watch.peak()).toBeLessThanOrEqual(3);
  expect(watch.peak()).toBeGreaterThanOrEqual(2);
  const times = mx.messages.map((m) => m.at);
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  // 30 per second of the span plus one burst of 3, for both IPs together.
  expect(times.length).toBeLessThanOrEqual(30 * span + 3 + 1);
  expect(span).toBeGreaterThan(4);
  expect(mx.stats('127.0.0.44').messages).toBeGreaterThan(0);
  expect(mx.stats('127.0.0.45').messages).toBeGreaterThan(0);
});
