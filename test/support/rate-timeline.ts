/**
 * Grant timelines for rate limiter tests. A grant is known to have happened between `lo`
 * (just before the call) and `hi` (when the reply came): on a fake clock both are the
 * grant time; on Redis they bracket its TIME (same host clock).
 */
import type { TokenResult } from '../../gateway/state/types.js';

export interface Grant {
  readonly lo: number;
  readonly hi: number;
}

export interface Driver {
  /** A timestamp on the backend's clock (fractional ms where the clock has them). */
  stamp(): number;
  /** Lets `ms` pass: the fake clock moves, or the wall clock is waited on. */
  pass(ms: number): Promise<void>;
}

/**
 * `takers` loops take greedily until `durationMs` has passed: after a refusal each waits
 * the retry time plus a lateness from `lateMs` (in turn), as timers and round trips add.
 */
export async function drive(take: () => Promise<TokenResult>, driver: Driver, durationMs: number, takers = 1, lateMs: readonly number[] = [0]): Promise<Grant[]> {
  const grants: Grant[] = [];
  const end = driver.stamp() + durationMs;
  let refusals = 0;
  const loop = async (): Promise<void> => {
    while (driver.stamp() < end) {
      const lo = driver.stamp();
      const result = await take();
      const hi = driver.stamp();
      if (result.ok) grants.push({ lo, hi });
      else await driver.pass(result.retryAfterMs + (lateMs[refusals++ % lateMs.length] ?? 0));
    }
  };
  await Promise.all(Array.from({ length: takers }, loop));
  return grants.sort((a, b) => a.lo - b.lo);
}

/**
 * Over every run of `count + 1` consecutive grants, the most time the run can have taken
 * (its last `hi` minus its first `lo`); the smallest of these. Under one period, some
 * `count + 1` grants certainly fell in one window of a period: the limit was broken.
 */
export function tightestSpan(grants: readonly Grant[], count: number): number {
  let tightest = Number.POSITIVE_INFINITY;
  for (let i = 0; i + count < grants.length; i++) {
    let hi = 0;
    for (let j = i; j <= i + count; j++) hi = Math.max(hi, grants[j]?.hi ?? 0);
    tightest = Math.min(tightest, hi - (grants[i]?.lo ?? 0));
  }
  return tightest;
}

/** Grants (by `lo`) in [from, to). */
export function grantsWithin(grants: readonly Grant[], from: number, to: number): number {
  return grants.filter((g) => g.lo >= from && g.lo < to).length;
}
