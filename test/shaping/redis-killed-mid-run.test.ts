// Redis dies mid-run and comes back: both nodes keep accepting and spooling, keep
// delivering within their share of the provider's fleet total (1 connection each of 2),
// say so in the log (state_degraded / state_restored, node.state.degraded()), deliver
// everything in the end, and hold the shared limits again once Redis answers.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestMx } from '../support/test-mx.js';
import { redisServerPath, type PrivateRedis } from '../support/redis-server.js';
import { inBatches, nodeConfig, providerZone, recipients, setupShaping, slowData, submit, watchTotalSessions, type Shaping, type ShapingEnv, type ShapingNode } from './harness.js';

const hasRedis = redisServerPath() !== null;
let env: Shaping;
let mx: TestMx;
let redis: PrivateRedis;
let nodes: ShapingNode[] = [];

const config = (e: ShapingEnv, id: string) =>
  nodeConfig(e, {
    node: { id },
    cluster: { redis_url: e.redis.url, heartbeat: '500ms' },
    queue: { retry: ['1s'] },
    sources: { a: { ip: '127.0.0.65', node: 'n1' }, b: { ip: '127.0.0.66', node: 'n2' } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: { outagemail: { mx_suffixes: ['.outagemail.test'], max_connections: 2, max_messages_per_connection: 20, total: { max_connections: 2 } } },
  });

const batch = (prefix: string, n: number) => inBatches(recipients(prefix, n, 'outage.test', 20), 10);

beforeAll(async () => {
  if (!hasRedis) return;
  env = await setupShaping({
    redis: true,
    mx: { host: '127.0.0.64', onData: slowData(10) },
    zone: providerZone('outage.test', 20, 'mx.outagemail.test', '127.0.0.64'),
    configs: (e) => [config(e, 'n1'), config(e, 'n2')],
  });
  ({ mx, redis, nodes } = env);
  // Both nodes have seen the fleet (2 live nodes) before Redis goes away.
  await new Promise((r) => setTimeout(r, 1_200));
});

afterAll(() => env?.close());

test.skipIf(!hasRedis)('mail keeps flowing within each node\'s share while Redis is down, and all of it is delivered', async () => {
  const [n1, n2] = nodes as [ShapingNode, ShapingNode];
  await Promise.all([submit(n1.port, batch('a', 60)), submit(n2.port, batch('b', 60))]);
  await mx.waitFor(30, 10_000);

  await redis.kill();
  await Promise.all([n1.waitForEvent('state_degraded'), n2.waitForEvent('state_degraded')]);
  expect(n1.node.state.degraded()).toBe(true);
  const outage = watchTotalSessions(mx);
  const atKill = mx.messages.length;
  // Still accepting and spooling with Redis gone.
  await Promise.all([submit(n1.port, batch('c', 60)), submit(n2.port, batch('d', 60))]);
  // Still delivering, each node within its share: 1 connection of the fleet's 2.
  await mx.waitFor(atKill + 60, 15_000);
  outage.stop();
  expect(outage.peak()).toBeLessThanOrEqual(2);

  await redis.restart();
  await Promise.all([n1.waitForEvent('state_restored', undefined, 15_000), n2.waitForEvent('state_restored', undefined, 15_000)]);
  expect(n1.node.state.degraded()).toBe(false);
  await mx.waitFor(240, 20_000);
  expect(gw(n1).events('bounced').length + gw(n2).events('bounced').length).toBe(0);

  // Shared limits again: a fresh burst stays within the fleet total.
  const after = watchTotalSessions(mx);
  await Promise.all([submit(n1.port, batch('e', 20)), submit(n2.port, batch('f', 20))]);
  await mx.waitFor(280, 15_000);
  after.stop();
  expect(after.peak()).toBeLessThanOrEqual(2);
});

function gw(n: ShapingNode): ShapingNode {
  return n;
}
