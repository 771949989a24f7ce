// A [[providers.X.rules]] hold: the provider's reply holds the source that got it toward
// the provider (source_held), its mail rotates to the pool's other source, and after the
// rule's duration the source is back (source_lifted) and sends again.
import { expect, test } from 'vitest';
import { oneEach, providerZone, recipients, submit, useShaping } from './harness.js';

const A = '127.0.0.52';
const B = '127.0.0.53';
let refuseA = true;

const shaping = useShaping({
  mx: {
    host: '127.0.0.51',
    rejectRcpt: (_rcpt, ip) => (ip === A && refuseA ? { code: 421, message: '4.7.28 [127.0.0.52] Our system has detected an unusual rate of unsolicited mail originating from your IP address.' } : null),
  },
  zone: providerZone('rule.test', 10, 'mx.rules.test', '127.0.0.51'),
  config: {
    queue: { retry: ['1s'] },
    sources: { a: { ip: A }, b: { ip: B } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: {
      rulemail: { mx_suffixes: ['.rules.test'], max_connections: 1, max_messages_per_connection: 1, rules: [{ match: '4.7.28', action: 'hold', duration: '2s' }] },
    },
  },
});

test('a hold rule holds the source for its duration, then it sends again', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, oneEach(recipients('r', 10, 'rule.test', 10)));
  const held = await gw.waitForEvent('source_held');
  expect(held).toMatchObject({ source: 'a', provider: 'rulemail', scope: 'source-provider:a:rulemail', reason: 'provider_rule', by: 'response-rule' });
  expect(String(held['detail'])).toContain('4.7.28');
  await mx.waitFor(10, 10_000);
  // While a is held everything goes through b, and nothing bounced.
  expect(mx.stats(A).messages).toBe(0);
  expect(mx.stats(B).messages).toBe(10);
  expect(gw.events('bounced')).toHaveLength(0);
  expect(gw.events('source_held')).toHaveLength(1);

  refuseA = false;
  const lifted = await gw.waitForEvent('source_lifted', (l) => l['source'] === 'a', 5_000);
  expect(Date.parse(String(lifted['until']))).toBeLessThanOrEqual(Date.now());
  await submit(gw.port, oneEach(recipients('s', 10, 'rule.test', 10)));
  await mx.waitFor(20, 10_000);
  expect(mx.stats(A).messages).toBeGreaterThan(0);
});
