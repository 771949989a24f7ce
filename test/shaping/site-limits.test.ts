// A destination no provider matches is throttled per site (its MX host set), with
// [providers.default]'s limits for the site as a whole: many domains on one server, and
// every source together, share one set of limits.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { providerZone, recipients, startNode, submit, watchTotalSessions, type ShapingNode } from './harness.js';

let mx: TestMx;
let dns: TestDnsServer;
let gw: ShapingNode;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.84', onData: () => new Promise((r) => setTimeout(() => r(null), 5)) });
  dns = await startDnsServer(providerZone('hosted.test', 25, 'mail.smallhost.test', '127.0.0.84'));
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
ip = "127.0.0.85"
ehlo = "a.shaping.test"
[sources.b]
ip = "127.0.0.86"
ehlo = "b.shaping.test"
[pools.transactional]
sources = ["a", "b"]
[providers.default]
max_connections = 1
max_messages_per_connection = 5
max_message_rate = "40/s"
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
});

test('25 domains on one server share the default limits, across both sources', async () => {
  const watch = watchTotalSessions(mx);
  const rcpts = recipients('s', 100, 'hosted.test', 25);
  await submit(gw.port, Array.from({ length: 10 }, (_, k) => ({ to: rcpts.slice(k * 10, k * 10 + 10) })));
  await mx.waitFor(100, 15_000);
  watch.stop();
  expect(watch.peak()).toBe(1);
  const times = mx.messages.map((m) => m.at);
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  expect(times.length).toBeLessThanOrEqual(40 * span + 4 + 1);
  const perSession = new Map<string, number>();
  for (const m of mx.messages) perSession.set(m.sessionId, (perSession.get(m.sessionId) ?? 0) + 1);
  expect(Math.max(...perSession.values())).toBeLessThanOrEqual(5);
});
