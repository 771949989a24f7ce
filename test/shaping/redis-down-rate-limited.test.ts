// While Redis is down, a provider with a message rate keeps delivering at this node's share
// of the rate (DESIGN.md "State").
import { expect, test } from 'vitest';
import { redisServerPath } from '../support/redis-server.js';
import { oneEach, providerZone, recipients, submit, useShaping } from './harness.js';

const hasRedis = redisServerPath() !== null;

const shaping = useShaping({
  skip: !hasRedis,
  redis: true,
  mx: { host: '127.0.0.67' },
  zone: providerZone('rated.test', 5, 'mx.ratedmail.test', '127.0.0.67'),
  config: ({ redis }) => ({
    node: { id: 'r1', drain_timeout: '1s' },
    cluster: { redis_url: redis.url },
    sources: { a: { ip: '127.0.0.68' } },
    pools: { transactional: { sources: ['a'] } },
    providers: { ratedmail: { mx_suffixes: ['.ratedmail.test'], max_message_rate: '20/s' } },
  }),
});

test.skipIf(!hasRedis)('rate-limited mail keeps flowing while Redis is down', async () => {
  const { mx, redis, gw } = shaping;
  await submit(gw.port, oneEach(recipients('u', 5, 'rated.test', 5)));
  await mx.waitFor(5, 10_000);
  await redis.kill();
  await gw.waitForEvent('state_degraded');
  await submit(gw.port, oneEach(recipients('v', 5, 'rated.test', 5)));
  await mx.waitFor(10, 6_000);
  expect(mx.messages).toHaveLength(10);
});
