// In a cluster, any node's /api/stats and /api/status show the fleet: its own numbers plus
// what the live peers published with their heartbeats.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const hasRedis = redisServerPath() !== null;
const TOKEN = 'fleet-token-0123456789';
let redis: PrivateRedis;
let mx: TestMx;
const nodes: { gw: TestGateway; admin: string }[] = [];

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.44' });
  for (const id of ['f1', 'f2']) {
    const port = await freePort();
    const gw = await startGateway(`
[node]
id = "${id}"
data_dir = "\${DIR}/data"
[cluster]
redis_url = "${redis.url}"
heartbeat = "300ms"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[admin]
listen = "127.0.0.1:${port}"
token = "${TOKEN}"
[dns.static]
"*" = "127.0.0.44:${mx.port}"
[sources.s1]
ip = "127.0.0.45"
ehlo = "s1.sluice.test"
node = "f1"
[sources.s2]
ip = "127.0.0.46"
ehlo = "s2.sluice.test"
node = "f2"
[pools.transactional]
sources = ["s1", "s2"]
`);
    nodes.push({ gw, admin: `http://127.0.0.1:${port}` });
  }
});

afterAll(async () => {
  for (const n of nodes) await n.gw.stop();
  await mx?.close();
  await redis?.stop();
});

async function send(gw: TestGateway, n: number, prefix: string): Promise<void> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  for (let i = 0; i < n; i++) expect((await c.send('app@example.com', [`${prefix}${i}@example.net`], message()))?.code).toBe(250);
  c.close();
}

test.skipIf(!hasRedis)('each node reports the delivered mail of both', async () => {
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  await send(a.gw, 7, 'a');
  await send(b.gw, 5, 'b');
  await mx.waitFor(12);
  for (const n of [a, b]) {
    await expect
      .poll(
        async () => {
          const r = await fetch(`${n.admin}/api/stats?window=5m`, { headers: { authorization: `Bearer ${TOKEN}` } });
          const s = (await r.json()) as { totals: { delivered: number }; by_source: { key: string; delivered: number }[] };
          return { total: s.totals.delivered, sources: Object.fromEntries(s.by_source.filter((x) => x.delivered > 0).map((x) => [x.key, x.delivered])) };
        },
        { timeout: 10_000 },
      )
      .toEqual({ total: 12, sources: { s1: 7, s2: 5 } });
  }
  const status = (await (await fetch(`${a.admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { nodes: { id: string }[] };
  expect(status.nodes.map((x) => x.id).sort()).toEqual(['f1', 'f2']);
});
