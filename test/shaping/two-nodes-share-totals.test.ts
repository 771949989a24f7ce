// Two nodes on one Redis hold a provider's fleet-wide limits together: each node has its
// own source, and [providers.X.total] caps the connections and the rate of both at once.
import { expect, test } from 'vitest';
import { redisServerPath } from '../support/redis-server.js';
import { inBatches, messageSpan, peakWithin, nodeConfig, providerZone, recipients, slowData, submit, useShaping, watchTotalSessions, type ShapingEnv, type ShapingNode } from './harness.js';

const hasRedis = redisServerPath() !== null;

const config = (e: ShapingEnv, id: string) =>
  nodeConfig(e, {
    node: { id },
    cluster: { redis_url: e.redis.url },
    sources: { a: { ip: '127.0.0.62', node: 'n1' }, b: { ip: '127.0.0.63', node: 'n2' } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: { fleetmail: { mx_suffixes: ['.fleetmail.test'], max_connections: 2, max_message_rate: '40/s', total: { max_connections: 2, max_message_rate: '30/s' } } },
  });

const shaping = useShaping({
  skip: !hasRedis,
  redis: true,
  mx: { host: '127.0.0.61', onData: slowData(10) },
  zone: providerZone('fleet.test', 20, 'mx.fleetmail.test', '127.0.0.61'),
  configs: (e) => [config(e, 'n1'), config(e, 'n2')],
});

test.skipIf(!hasRedis)('the provider total holds across two nodes', async () => {
  const { mx, nodes } = shaping;
  const [n1, n2] = nodes as [ShapingNode, ShapingNode];
  expect(n1.node.state.kind).toBe('redis');
  const watch = watchTotalSessions(mx);
  await Promise.all([submit(n1.port, inBatches(recipients('x', 150, 'fleet.test', 20), 10)), submit(n2.port, inBatches(recipients('y', 150, 'fleet.test', 20), 10))]);
  await mx.waitFor(300, 30_000);
  watch.stop();
  expect(watch.peak()).toBeLessThanOrEqual(2);
  expect(mx.stats('127.0.0.62').messages).toBe(150);
  expect(mx.stats('127.0.0.63').messages).toBe(150);
  const { count, span } = messageSpan(mx);
  // For both nodes together: no second holds more than 30, and the whole run at most 30
  // per second of its span plus the one that starts it.
  // The limiter's grants are exact (test/state/contract.test.ts); the MX counts a message at
  // the end of its DATA, which on a loaded test machine can lag its token by more than the
  // 15 ms margin, so one more can show here.
  expect(peakWithin(mx)).toBeLessThanOrEqual(30 + 1);
  expect(count).toBeLessThanOrEqual(30 * span + 1 + 1);
  expect(n1.node.state.degraded()).toBe(false);
});
