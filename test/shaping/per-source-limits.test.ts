// A provider found by MX suffix gets its limits per source IP: at most max_connections
// sessions from each IP at once, max_message_rate messages per second from each IP, and no
// more than max_messages_per_connection messages on one session.
import { expect, test } from 'vitest';
import { averageRate, inBatches, messageSpan, messagesPerSession, providerZone, recipients, slowData, submit, useShaping } from './harness.js';


const shaping = useShaping({
  // A slow MX keeps sessions open long enough for the connection limit to matter.
  mx: { host: '127.0.0.40', onData: slowData(15) },
  zone: providerZone('big.test', 30, 'in1.mx.bigmail.test', '127.0.0.40'),
  config: {
    sources: { a: { ip: '127.0.0.41' }, b: { ip: '127.0.0.42' } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: { bigmail: { mx_suffixes: ['.mx.bigmail.test'], max_connections: 2, max_message_rate: '25/s', max_messages_per_connection: 7 } },
  },
});

test('connections, rate and messages per connection hold per source IP', async () => {
  const { mx, gw } = shaping;
  // 24 messages of 10 recipients at 10 domains: 240 deliveries queued at once.
  await submit(gw.port, inBatches(recipients('u', 240, 'big.test', 30), 10));
  await mx.waitFor(240, 30_000);
  const a = mx.stats('127.0.0.41');
  const b = mx.stats('127.0.0.42');
  expect(a.messages + b.messages).toBe(240);
  for (const s of [a, b]) {
    expect(s.peak).toBeLessThanOrEqual(2);
    // The limiter's grants are exact (test/state/contract.test.ts); the MX counts a message at
    // the end of its DATA, which on a loaded test machine can lag its token by more than the
    // 15 ms margin, so one more can show here.
    expect(s.peakPerSecond).toBeLessThanOrEqual(25 + 1);
  }
  // Over the whole run each IP sends at most 25 per second of its span, plus the one that
  // starts it (and one for that lag).
  for (const ip of ['127.0.0.41', '127.0.0.42']) {
    const { count, span } = messageSpan(mx, ip);
    expect(count).toBeLessThanOrEqual(25 * span + 1 + 1);
  }
  // The limits were reached, not just respected: both IPs ran 2 sessions, and together
  // they sent faster than one IP may (on a quiet machine near 2 × 25/s; the margin is for
  // a loaded one).
  expect(Math.min(a.peak, b.peak)).toBe(2);
  expect(averageRate(mx)).toBeGreaterThan(25);
  expect(Math.max(...messagesPerSession(mx))).toBeLessThanOrEqual(7);
  // Sessions are reused: the 240 messages did not need 240 connections.
  expect(a.connections + b.connections).toBeLessThan(100);
});
