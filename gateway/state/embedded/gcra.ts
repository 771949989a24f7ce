import type { RateClaim, TokenResult } from '../types.js';
import { gcraParams, type GcraParams } from '../gcra-params.js';

/** GCRA buckets in memory; the arithmetic and its guarantee are in ../gcra-params.ts. */
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
