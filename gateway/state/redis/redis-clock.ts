import { systemClock, type Clock } from '../types.js';

/** A best sample older than this gives way to the next one (clocks drift and get stepped). */
const FRESH_MS = 60_000;

/**
 * What Redis TIME reads while this node's clock reads now, learned from script replies
 * that carry it. Redis read its clock between our send and our receipt, so
 * `redisMs - receivedAt` is a lower bound of the offset; the largest recent one is the
 * tightest. A deadline built on a lower bound falls early by at most that sample's round
 * trip: Redis refuses a late request a little sooner, never later, whatever the skew
 * between the clocks.
 */
export class RedisClock {
  readonly #clock: Clock;
  #offset: number | null = null;
  #sampledAt = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  /** A reply carried Redis time `redisMs`; it arrived at `receivedAt` (this node's clock). */
  sample(redisMs: number, receivedAt: number): void {
    const lower = redisMs - receivedAt;
    if (this.#offset === null || lower >= this.#offset || receivedAt - this.#sampledAt > FRESH_MS) {
      this.#offset = lower;
      this.#sampledAt = receivedAt;
    }
  }

  /** Redis time at which a request sent now is no longer waited for; 0 (none) before any sample. */
  deadline(waitMs: number): number {
    return this.#offset === null ? 0 : Math.floor(this.#clock.now() + this.#offset + waitMs);
  }
}
