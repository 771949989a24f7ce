// A transactional message does not wait behind a promotional backlog: with thousands of
// promotional deliveries queued for one slow provider, through the same source and its
// two connections, a transactional message sent afterwards goes out within a few
// messages (the promotional sessions give their connections way at a message boundary).
import { expect, test } from 'vitest';
import { inBatches, providerZone, recipients, slowData, submit, useShaping } from './harness.js';


const shaping = useShaping({
  // A slow provider: 20 ms per message, at most 2 connections from the one source.
  mx: { host: '127.0.0.57', onData: slowData(20) },
  zone: providerZone('slow.test', 100, 'mx.slowmail.test', '127.0.0.57'),
  config: {
    node: { drain_timeout: '1s' },
    routes: [{ header: { 'X-Kind': 'promo' }, pool: 'promotional' }],
    sources: { s1: { ip: '127.0.0.58' } },
    pools: { transactional: { sources: ['s1'], priority: 9 }, promotional: { sources: ['s1'], priority: 1 } },
    providers: { slowmail: { mx_suffixes: ['.slowmail.test'], max_connections: 2 } },
  },
});

test('a transactional message overtakes a promotional backlog of thousands', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, inBatches(recipients('p', 3000, 'slow.test', 100), 100, ['X-Kind: promo']));
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
