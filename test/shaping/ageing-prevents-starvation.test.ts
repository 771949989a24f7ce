// Ageing: a queue of lower priority that gets no connection rises by one per [queue]
// ageing until it outranks the busy queue, so a promotional message still leaves while
// a transactional backlog of thousands holds every connection of the shared source.
import { expect, test } from 'vitest';
import { inBatches, providerZone, recipients, slowData, submit, useShaping } from './harness.js';


const shaping = useShaping({
  mx: { host: '127.0.0.59', onData: slowData(20) },
  zone: providerZone('age.test', 100, 'mx.agemail.test', '127.0.0.59'),
  config: {
    node: { drain_timeout: '1s' },
    queue: { ageing: '1s' },
    routes: [{ header: { 'X-Kind': 'promo' }, pool: 'promotional' }],
    sources: { s1: { ip: '127.0.0.60' } },
    pools: { transactional: { sources: ['s1'], priority: 3 }, promotional: { sources: ['s1'], priority: 1 } },
    providers: { agemail: { mx_suffixes: ['.agemail.test'], max_connections: 2 } },
  },
});

test('a lower-priority message is not starved by a higher-priority backlog', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, inBatches(recipients('t', 3000, 'age.test', 100), 100));
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
