// A destination no provider matches is throttled per site (its MX host set), with
// [providers.default]'s limits for the site as a whole: many domains on one server, and
// every source together, share one set of limits.
import { expect, test } from 'vitest';
import { inBatches, messageSpan, peakWithin, messagesPerSession, providerZone, recipients, slowData, submit, useShaping, watchTotalSessions } from './harness.js';


const shaping = useShaping({
  mx: { host: '127.0.0.84', onData: slowData(5) },
  zone: providerZone('hosted.test', 25, 'mail.smallhost.test', '127.0.0.84'),
  config: {
    sources: { a: { ip: '127.0.0.85' }, b: { ip: '127.0.0.86' } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: { default: { max_connections: 1, max_messages_per_connection: 5, max_message_rate: '40/s' } },
  },
});

test('25 domains on one server share the default limits, across both sources', async () => {
  const { mx, gw } = shaping;
  const watch = watchTotalSessions(mx);
  await submit(gw.port, inBatches(recipients('s', 100, 'hosted.test', 25), 10));
  await mx.waitFor(100, 15_000);
  watch.stop();
  expect(watch.peak()).toBe(1);
  const { count, span } = messageSpan(mx);
  // The limiter's grants are exact (test/state/contract.test.ts); the MX counts a message at
  // the end of its DATA, which on a loaded test machine can lag its token by more than the
  // 15 ms margin, so one more can show here.
  expect(peakWithin(mx)).toBeLessThanOrEqual(40 + 1);
  expect(count).toBeLessThanOrEqual(40 * span + 1 + 1);
  expect(Math.max(...messagesPerSession(mx))).toBeLessThanOrEqual(5);
});
