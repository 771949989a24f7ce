// [pools.X.health]: a source whose bounce rate toward a provider passes max_bounce_rate
// (with min_volume outcomes) is held toward that provider (source_held, reason naming the
// rate), its mail rotates to the pool's healthy source, and it is back after hold_for
// (source_lifted).
import { expect, test, vi } from 'vitest';
import { oneEach, providerZone, recipients, submit, useShaping } from './harness.js';

const A = '127.0.0.55';
const B = '127.0.0.56';

const shaping = useShaping({
  // The provider refuses every recipient that comes from A: A's bounce rate is 100%.
  mx: { host: '127.0.0.54', rejectRcpt: (_r, ip) => (ip === A ? { code: 550, message: '5.7.1 Service unavailable, client host blocked' } : null) },
  zone: providerZone('health.test', 10, 'mx.healthy.test', '127.0.0.54'),
  config: {
    sources: { a: { ip: A }, b: { ip: B } },
    pools: { transactional: { sources: ['a', 'b'], health: { max_bounce_rate: 0.2, min_volume: 6, window: '10m', hold_for: '2s' } } },
    providers: { healthmail: { mx_suffixes: ['.healthy.test'], max_connections: 1, max_messages_per_connection: 1 } },
  },
});

test('a source over max_bounce_rate is held toward the provider, rotates out, and comes back', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, oneEach(recipients('h', 40, 'health.test', 10)));
  const held = await gw.waitForEvent('source_held');
  expect(held).toMatchObject({ source: 'a', provider: 'healthmail', scope: 'source-provider:a:healthmail', reason: 'bounce_rate', by: 'health' });
  expect(String(held['detail'])).toMatch(/bounce rate 100% over max_bounce_rate 20% \(\d+ of \d+ in the last/);
  const heldAt = Number(held['time']);
  // Every message still waiting goes out through b; a bounced only its first few.
  const bouncedFromA = () => gw.events('bounced').filter((l) => l['source'] === 'a').length;
  // Polled: the last outcome may be a's bounce, logged after the MX's last event, so a
  // wait that rechecks only on MX events could miss it.
  await vi.waitUntil(() => mx.messages.length + bouncedFromA() >= 40, { timeout: 15_000, interval: 50 });
  const beforeHold = gw.events('bounced').filter((l) => l['source'] === 'a' && Number(l['time']) <= heldAt).length;
  expect(beforeHold).toBeGreaterThanOrEqual(6);
  // (a few more than min_volume: messages already on their way when the counts crossed the line)
  expect(beforeHold).toBeLessThan(16);
  // During the hold a sent nothing but the one message its single connection
  // (max_connections = 1) may have had on the wire when the hold was set.
  const until = Date.parse(String(held['until']));
  const late = gw.events('bounced').filter((l) => l['source'] === 'a' && Number(l['time']) > heldAt && Number(l['time']) < until);
  expect(late.length).toBeLessThanOrEqual(1);
  expect(gw.events('delivered').filter((l) => Number(l['time']) > heldAt).length).toBeGreaterThan(10);
  const lifted = await gw.waitForEvent('source_lifted', (l) => l['source'] === 'a', 5_000);
  expect(lifted).toMatchObject({ scope: 'source-provider:a:healthmail', reason: 'bounce_rate' });
  expect(Number(lifted['time'])).toBeGreaterThanOrEqual(until);

  // Back in rotation, a is judged afresh: only min_volume new outcomes hold it again.
  await submit(gw.port, oneEach(recipients('k', 30, 'health.test', 10)));
  const again = await gw.waitForEvent('source_held', (l) => Number(l['time']) > Number(lifted['time']), 10_000);
  const fresh = gw.events('bounced').filter((l) => l['source'] === 'a' && Number(l['time']) >= until && Number(l['time']) <= Number(again['time']));
  expect(fresh.length).toBeGreaterThanOrEqual(6);
});
