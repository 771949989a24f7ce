import type { Clock } from '../../gateway/state/types.js';

/** A Clock the test moves by hand, so TTLs and windows lapse without sleeping. */
export class FakeClock implements Clock {
  #now: number;

  constructor(start = Date.UTC(2026, 10, 1, 12, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    if (ms < 0) throw new Error('a clock does not go back');
    this.#now += ms;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}
