/**
 * Rate tokens across a Redis outage (gateway/state/fallback/rates.ts): two nodes on
 * a fake clock, the shared bucket played by the embedded GCRA with the same debt rule as
 * the Redis script. No window of one period may hold more than the fleet's count: before,
 * during, and after the outage, while the nodes come back one after the other.
 */
import { describe, expect, it } from 'vitest';
import { GcraTable } from '../../gateway/state/embedded/gcra.js';
import { FallbackRates } from '../../gateway/state/fallback/rates.js';
import type { RateClaim } from '../../gateway/state/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { grantsWithin, tightestSpan, type Grant } from '../support/rate-timeline.js';

interface NodeRun {
  readonly rates: FallbackRates;
  /** [from, to) in ms after the start: the node cannot reach Redis. */
  readonly away: readonly [number, number];
}

/** Every node takes greedily each millisecond for `durationMs`; the grants of all of them. */
async function run(claims: readonly RateClaim[], nodes: readonly NodeRun[], clock: FakeClock, durationMs: number): Promise<Grant[]> {
  const shared = new GcraTable();
  const start = clock.now();
  const grants: Grant[] = [];
  for (let t = 0; t < durationMs; t++) {
    for (const node of nodes) {
      const away = t >= node.away[0] && t < node.away[1];
      for (;;) {
        const result = away
          ? node.rates.takeLocal(claims, nodes.length)
          : await node.rates.takeShared(claims, nodes.length, async (c, debts) => shared.take(c, clock.now(), debts));
        if (!result.ok) break;
        grants.push({ lo: clock.now(), hi: clock.now() });
      }
    }
    clock.advance(1);
  }
  expect(clock.now() - start).toBe(durationMs);
  return grants;
}

describe('rate tokens across a Redis outage', () => {
  const total: RateClaim = { key: 'provider-rate:gmail', rate: { count: 20, periodMs: 1_000, burst: 10 } };
  const source: RateClaim = { key: 'source-rate:a:gmail', rate: { count: 8, periodMs: 1_000, burst: 3 } };

  it.each([
    { what: 'together', a: [3_000, 6_500], b: [3_000, 6_500] },
    { what: 'one after the other', a: [3_000, 6_200], b: [3_400, 7_100] },
    { what: 'a short blip', a: [3_000, 3_300], b: [3_000, 3_250] },
    { what: 'one back while the other sends on its share', a: [3_000, 4_400], b: [3_000, 5_300] },
  ] as const)('no window of one period holds more than the fleet total (nodes go and come back $what)', async ({ a, b }) => {
    const clock = new FakeClock();
    const start = clock.now();
    const nodes = [
      { rates: new FallbackRates(clock), away: a },
      { rates: new FallbackRates(clock), away: b },
    ];
    const grants = await run([total], nodes, clock, 10_000);
    expect(tightestSpan(grants, 20)).toBeGreaterThanOrEqual(1_000);
    // Nothing stalls for good: the outage still delivers within the shares (10 per second
    // each, burst 5: 6 sustained), and once both nodes are back for a period the fleet is
    // at its sustained rate again (burst 10 of 20: 11 * 1000 / 1015 per second).
    if (a[1] - a[0] > 2_000) expect(grantsWithin(grants, start + 5_000, start + 6_000)).toBeGreaterThanOrEqual(2 * 6);
    expect(grantsWithin(grants, start + 9_000, start + 10_000)).toBeGreaterThanOrEqual(10);
  });

  it('holds a per-source and a total claim together', async () => {
    const clock = new FakeClock();
    const nodes = [
      { rates: new FallbackRates(clock), away: [2_000, 5_000] as const },
      { rates: new FallbackRates(clock), away: [2_300, 5_600] as const },
    ];
    const grants = await run([source, total], nodes, clock, 8_000);
    // Both nodes send from the one source: its count holds for the pair.
    expect(tightestSpan(grants, 8)).toBeGreaterThanOrEqual(1_000);
  });
});
