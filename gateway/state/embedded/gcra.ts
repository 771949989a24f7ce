import { SluiceError } from '../../errors.js';
import type { Rate, RateClaim, TokenResult } from '../types.js';

/**
 * GCRA (generic cell rate algorithm): one number per bucket, the theoretical arrival
 * time (TAT) of the next conforming token. With emission interval T = period/count and
 * tolerance tau = period - T, a full bucket lets `count` tokens through at once, then
 * one every T: "40/s" allows 40 immediately, then one each 25 ms.
 */
export function emissionInterval(rate: Rate): number {
  if (!(rate.count >= 1) || !(rate.periodMs > 0)) {
    throw new SluiceError('USAGE', `bad rate ${rate.count}/${rate.periodMs}ms`);
  }
  return rate.periodMs / rate.count;
}

/** A full bucket's TAT, or a drained one's (used when a fresh local bucket must not burst). */
export type InitialTat = (now: number, rate: Rate) => number;

export const fullBucket: InitialTat = (now) => now;
export const drainedBucket: InitialTat = (now, rate) => now + rate.periodMs;

export class GcraTable {
  readonly #tat = new Map<string, number>();
  readonly #initial: InitialTat;

  constructor(initial: InitialTat = fullBucket) {
    this.#initial = initial;
  }

  /** Takes one token from every bucket or from none. */
  take(claims: readonly RateClaim[], now: number): TokenResult {
    const staged = new Map<string, number>();
    let retryAfterMs = 0;
    for (const claim of claims) {
      const interval = emissionInterval(claim.rate);
      const tolerance = claim.rate.periodMs - interval;
      const stored = staged.get(claim.key) ?? this.#tat.get(claim.key) ?? this.#initial(now, claim.rate);
      const tat = Math.max(stored, now);
      if (tat - now > tolerance) {
        retryAfterMs = Math.max(retryAfterMs, Math.max(1, Math.ceil(tat - tolerance - now)));
      } else {
        staged.set(claim.key, tat + interval);
      }
    }
    if (retryAfterMs > 0) {
      // A bucket seen for the first time starts from its initial TAT now, not at every
      // retry: a drained bucket that never stored its start would refuse for ever.
      for (const claim of claims) if (!this.#tat.has(claim.key)) this.#tat.set(claim.key, this.#initial(now, claim.rate));
      return { ok: false, retryAfterMs };
    }
    for (const [key, tat] of staged) this.#tat.set(key, tat);
    return { ok: true };
  }

  /** Drops buckets that have refilled: an absent bucket and a full one behave alike. */
  sweep(now: number): void {
    for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key);
  }

  get size(): number {
    return this.#tat.size;
  }
}
