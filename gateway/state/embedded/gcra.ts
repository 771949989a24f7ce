import { SluiceError } from '../../errors.js';
import type { Rate, RateClaim, TokenResult } from '../types.js';

/**
 * GCRA (generic cell rate algorithm): one number per bucket, the theoretical arrival
 * time (TAT) of the next token at the emission interval T; a token is granted at `now`
 * when TAT - tolerance <= now, and moves TAT to max(TAT, now) + T.
 *
 * The guarantee a configured "N per period P" must keep: no window of length P (sliding,
 * half-open) holds more than N grants, since that is what a provider counts. For grants
 * t1 < ... < tm inside one window of length W, TAT before tm is at least t1 + (m-1)T and
 * at most tm + tolerance, so (m-1)T < W + tolerance. Hence every window of W holds at
 * most N grants whenever (W + tolerance) / T <= N.
 *
 * W is not P but P + MARGIN (15 ms): the provider counts a message when it arrives, some
 * milliseconds after its token, and that delay varies (a slow round trip, a busy event
 * loop); grants that are N per P + MARGIN arrive N per P as long as it varies less than
 * MARGIN. Then:
 *
 * - `burst` b given: T = (P + MARGIN) / (N - b + 1), tolerance (b - 1)T. b tokens may go
 *   back to back; sustained about N - b + 1 per period.
 * - no burst (the default): tolerance SLACK (15 ms), T = (P + MARGIN + SLACK) / N. The
 *   slack absorbs lateness of the taker (a session that comes back for its token up to
 *   SLACK late loses nothing; with zero tolerance every late millisecond is lost for good),
 *   at a fixed cost: sustained N * P / (P + 30 ms), 97% of N for "N/s", above 99.9% for
 *   "N/m" and "N/h", more than an integer burst of 2 keeps for N below 34 per second.
 *   Periods under 750 ms (tests) scale both down to 2% of P.
 *
 * Time is in integer microseconds (Redis TIME has them; the embedded clock is ms), and T
 * is rounded up to a whole microsecond: the sums stay exact in a double (now is about
 * 2^51 us), so accumulated rounding can never let an N+1st token into the window.
 */
export const SLACK_US = 15_000;
export const MARGIN_US = 15_000;

export interface GcraParams {
  readonly intervalUs: number;
  readonly toleranceUs: number;
  readonly periodUs: number;
}

export function gcraParams(rate: Rate): GcraParams {
  const { count, periodMs, burst } = rate;
  if (!Number.isInteger(count) || count < 1 || !(periodMs > 0)) {
    throw new SluiceError('USAGE', `bad rate ${count}/${periodMs}ms`);
  }
  const periodUs = Math.round(periodMs * 1_000);
  const marginUs = Math.min(MARGIN_US, Math.floor(periodUs / 50));
  if (burst !== undefined) {
    if (!Number.isInteger(burst) || burst < 1 || burst > count) {
      throw new SluiceError('USAGE', `bad burst ${burst} for rate ${count}/${periodMs}ms (1 to ${count})`);
    }
    const intervalUs = Math.ceil((periodUs + marginUs) / (count - burst + 1));
    return { intervalUs, toleranceUs: (burst - 1) * intervalUs, periodUs };
  }
  const toleranceUs = Math.min(SLACK_US, Math.floor(periodUs / 50));
  return { intervalUs: Math.ceil((periodUs + marginUs + toleranceUs) / count), toleranceUs, periodUs };
}

/** A bucket's TAT when first seen: full (now), or drained, for a local bucket that must not burst. */
export type InitialTat = (nowUs: number, params: GcraParams) => number;

export const fullBucket: InitialTat = (nowUs) => nowUs;

/**
 * A bucket that grants nothing until one period (plus its tolerance) after `startUs`:
 * another store may have granted a whole window's worth just before, unseen here.
 */
export function drainedSince(startUs: number): InitialTat {
  return (nowUs, params) => Math.max(nowUs, startUs + params.periodUs + params.toleranceUs);
}

export const toUs = (ms: number): number => Math.round(ms * 1_000);

export class GcraTable {
  readonly #tat = new Map<string, number>();
  readonly #initial: InitialTat;

  constructor(initial: InitialTat = fullBucket) {
    this.#initial = initial;
  }

  /**
   * Takes one token from every bucket or from none. `debts[i]` tokens are charged to
   * claim i's bucket first, taken or not (the Redis script's debts, for the same reason).
   */
  take(claims: readonly RateClaim[], nowMs: number, debts: readonly number[] = []): TokenResult {
    const now = toUs(nowMs);
    claims.forEach((claim, i) => {
      const debt = debts[i] ?? 0;
      if (debt <= 0) return;
      const params = gcraParams(claim.rate);
      const tat = Math.max(this.#tat.get(claim.key) ?? this.#initial(now, params), now);
      this.#tat.set(claim.key, tat + debt * params.intervalUs);
    });
    return this.#run(claims, now, true);
  }

  /** What take() would answer now, without taking. */
  check(claims: readonly RateClaim[], nowMs: number): TokenResult {
    return this.#run(claims, toUs(nowMs), false);
  }

  #run(claims: readonly RateClaim[], now: number, commit: boolean): TokenResult {
    const staged = new Map<string, number>();
    let retryUs = 0;
    for (const claim of claims) {
      const params = gcraParams(claim.rate);
      const stored = staged.get(claim.key) ?? this.#tat.get(claim.key) ?? this.#initial(now, params);
      const tat = Math.max(stored, now);
      if (tat - now > params.toleranceUs) retryUs = Math.max(retryUs, tat - params.toleranceUs - now);
      else staged.set(claim.key, tat + params.intervalUs);
    }
    if (retryUs > 0) {
      // A bucket seen for the first time starts from its initial TAT now, not at every
      // retry: a drained bucket that never stored its start would refuse for ever.
      for (const claim of claims) {
        if (!this.#tat.has(claim.key)) this.#tat.set(claim.key, this.#initial(now, gcraParams(claim.rate)));
      }
      return { ok: false, retryAfterMs: Math.max(1, Math.ceil(retryUs / 1_000)) };
    }
    if (commit) for (const [key, tat] of staged) this.#tat.set(key, tat);
    return { ok: true };
  }

  /** Drops buckets that have refilled: an absent bucket and a full one behave alike. */
  sweep(nowMs: number): void {
    const now = toUs(nowMs);
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key);
  }

  get size(): number {
    return this.#tat.size;
  }
}
