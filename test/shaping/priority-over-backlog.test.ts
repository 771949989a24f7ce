// A transactional message does not wait behind a promotional backlog: with thousands of
// promotional deliveries queued for one slow provider, through the same source and its
// two connections, a transactional message sent afterwards goes out within a few
// messages (the promotional sessions give their connections way at a message boundary).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { providerZone, recipients, startNode, submit, type ShapingNode } from './harness.js';

let mx: TestMx;
let dns: TestDnsServer;
let gw: ShapingNode;

beforeAll(async () => {
  // A slow provider: 20 ms per message, at most 2 connections from the one source.
  mx = await startTestMx({ host: '127.0.0.57', onData: () => new Promise((r) => setTimeout(() => r(null), 20)) });
  dns = await startDnsServer(providerZone('slow.test', 100, 'mx.slowmail.test', '127.0.0.57'));
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
[[routes]]
header = { "X-Kind" = "promo" }
pool = "promotional"
[sources.s1]
ip = "127.0.0.58"
ehlo = "s1.shaping.test"
[pools.transactional]
sources = ["s1"]
priority = 9
[pools.promotional]
sources = ["s1"]
priority = 1
[providers.slowmail]
mx_suffixes = [".slowmail.test"]
max_connections = 2
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
});

test('a transactional message overtakes a promotional backlog of thousands', async () => {
  const promo = recipients('p', 3000, 'slow.test', 100);
  await submit(gw.port, Array.from({ length: 30 }, (_, k) => ({ to: promo.slice(k * 100, k * 100 + 100), headers: ['X-Kind: promo'] })));
  await mx.waitFor(100, 20_000);
  await submit(gw.port, [{ to: ['vip@d7.slow.test'] }]);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('vip@d7.slow.test')), 10_000);
  const position = mx.messages.findIndex((x) => x.rcpts.includes('vip@d7.slow.test'));
  const queuedAt = Number(gw.events('queued').at(-1)?.['time']);
  // Promotional messages that reached the MX after the transactional one was queued, before it.
  const overtakenBy = mx.messages.slice(0, position).filter((x) => x.at > queuedAt).length;
  // (without giving way it is up to a whole session of 100 messages per connection)
  expect(overtakenBy).toBeLessThanOrEqual(10);
  // The backlog was real: most of it was still queued when the transactional message left.
  expect(mx.messages.length).toBeLessThan(1500);
  expect(await gw.waitForEvent('delivered', (l) => l['rcpt'] === 'vip@d7.slow.test')).toMatchObject({ pool: 'transactional', source: 's1' });
});
