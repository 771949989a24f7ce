// A source in warm-up sends at most today's cap; once every source of the pool is at its
// cap, the pool's overflow pool sends the rest, and the outcome names the overflow pool.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { providerZone, recipients, startNode, submit, type ShapingNode } from './harness.js';

let mx: TestMx;
let dns: TestDnsServer;
let gw: ShapingNode;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.46' });
  dns = await startDnsServer(providerZone('warm.test', 10, 'mx.warm.test', '127.0.0.46'));
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
[sources.new1]
ip = "127.0.0.47"
ehlo = "new1.shaping.test"
warmup = "gentle"
[sources.old1]
ip = "127.0.0.48"
ehlo = "old1.shaping.test"
[pools.transactional]
sources = ["new1"]
overflow = "seasoned"
[pools.seasoned]
sources = ["old1"]
[warmup.gentle]
start = ${today}
daily = [8, 20, 50]
`);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await dns?.close();
});

test('the warm-up cap holds and the overflow pool takes the rest', async () => {
  const rcpts = recipients('w', 30, 'warm.test', 10);
  await submit(gw.port, rcpts.map((to) => ({ to: [to] })));
  await mx.waitFor(30, 15_000);
  expect(mx.stats('127.0.0.47').messages).toBe(8);
  expect(mx.stats('127.0.0.48').messages).toBe(22);
  const exhausted = await gw.waitForEvent('warmup_exhausted');
  expect(exhausted).toMatchObject({ source: 'new1', day: today, cap: 8 });
  expect(gw.events('warmup_exhausted')).toHaveLength(1);
  const delivered = gw.events('delivered');
  expect(delivered.filter((l) => l['source'] === 'old1').every((l) => l['pool'] === 'seasoned')).toBe(true);
  expect(delivered.filter((l) => l['source'] === 'new1').every((l) => l['pool'] === 'transactional')).toBe(true);
  expect(gw.events('bounced')).toHaveLength(0);
});
