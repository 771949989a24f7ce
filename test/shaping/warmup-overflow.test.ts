// A source in warm-up sends at most today's cap; once every source of the pool is at its
// cap, the pool's overflow pool sends the rest, and the outcome names the overflow pool.
import { expect, test } from 'vitest';
import { oneEach, providerZone, raw, recipients, submit, useShaping } from './harness.js';

const today = new Date().toISOString().slice(0, 10);

const shaping = useShaping({
  mx: { host: '127.0.0.46' },
  zone: providerZone('warm.test', 10, 'mx.warm.test', '127.0.0.46'),
  config: {
    sources: { new1: { ip: '127.0.0.47', warmup: 'gentle' }, old1: { ip: '127.0.0.48' } },
    pools: { transactional: { sources: ['new1'], overflow: 'seasoned' }, seasoned: { sources: ['old1'] } },
    warmup: { gentle: { start: raw(today), daily: [8, 20, 50] } },
  },
});

test('the warm-up cap holds and the overflow pool takes the rest', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, oneEach(recipients('w', 30, 'warm.test', 10)));
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
