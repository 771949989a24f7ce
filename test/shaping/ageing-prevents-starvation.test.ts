// Ageing: a queue of lower priority that gets no connection rises by one per [queue]
// ageing until it outranks the busy queue, so a promotional message still leaves while
// a transactional backlog of thousands holds every connection of the shared source.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { providerZone, recipients, startNode, submit, type ShapingNode } from './harness.js';

let mx: TestMx;
let dns: TestDnsServer;
let gw: ShapingNode;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.59', onData: () => new Promise((r) => setTimeout(() => r(null), 20)) });
  dns = await startDnsServer(providerZone('age.test', 100, 'mx.agemail.test', '127.0.0.59'));
  gw = await startNode(`
[node]
data_dir = "\${DIR}/data"
drain_timeout = "1s"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns]
servers = ["${dns.address}"]
[delivery]
port = ${mx.port}
[queue]
ageing = "1s"
[[routes]]
header = { "X-Kind" = "promo" }
pool = "promotional"
[sources.s1]
ip = "127.0.0.60"
ehlo = "s1.shaping.test"
[pools.transactional]
sources = ["s1"]
priority = 3
[pools.promotional]
sources = ["s1"]
priority = 1
[providers.agemail]
mx_suffixes = [".agemail.test"]
max_connections = 2
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
});

test('a lower-priority message is not starved by a higher-priority backlog', async () => {
  const tx = recipients('t', 3000, 'age.test', 100);
  await submit(gw.port, Array.from({ length: 30 }, (_, k) => ({ to: tx.slice(k * 100, k * 100 + 100) })));
  await mx.waitFor(50, 20_000);
  await submit(gw.port, [{ to: ['promo@d3.age.test'], headers: ['X-Kind: promo'] }]);
  const queuedAt = Date.now();
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('promo@d3.age.test')), 12_000);
  const waited = Date.now() - queuedAt;
  // It waited for ageing to lift it above the transactional queue (priority 3 vs 1: about 2–3 s)...
  expect(waited).toBeGreaterThan(1_000);
  // ...and left while most of the transactional backlog was still queued.
  expect(mx.messages.length).toBeLessThan(2000);
  expect(await gw.waitForEvent('delivered', (l) => l['rcpt'] === 'promo@d3.age.test')).toMatchObject({ pool: 'promotional' });
});
