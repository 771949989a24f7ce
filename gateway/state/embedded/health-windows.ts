import { assertNever } from '../../errors.js';
import type { HealthCounts, HealthOutcome } from '../types.js';

export const BUCKET_MS = 10_000;
/** The longest window anyone asks for; older buckets are dropped. */
export const KEEP_MS = 3_600_000;
const SWEEP_EVERY = 1_024;

/** [bucket start, delivered, deferred, bounced, complained] */
export type Bucket = [number, number, number, number, number];

function column(outcome: HealthOutcome): 1 | 2 | 3 | 4 {
  switch (outcome) {
    case 'delivered':
      return 1;
    case 'deferred':
      return 2;
    case 'bounced':
      return 3;
    case 'complained':
      return 4;
    default:
      return assertNever(outcome);
  }
}

/**
 * Outcome counts per series in 10-second buckets over the last hour: at most 360
 * small arrays per (source, provider), whatever the traffic.
 */
export class HealthWindows {
  readonly #series = new Map<string, Bucket[]>();
  #records = 0;

  record(series: string, outcome: HealthOutcome, now: number): void {
    const start = now - (now % BUCKET_MS);
    let buckets = this.#series.get(series);
    if (buckets === undefined) {
      buckets = [];
      this.#series.set(series, buckets);
    }
    let last = buckets[buckets.length - 1];
    if (last === undefined || last[0] < start) {
      last = [start, 0, 0, 0, 0];
      buckets.push(last);
    }
    // A clock that stepped back counts into the newest bucket rather than reorder them.
    last[column(outcome)] += 1;
    trim(buckets, now);
    if (++this.#records % SWEEP_EVERY === 0) this.sweep(now);
  }

  /** Sums the buckets that overlap the last `windowMs` (so the edge bucket counts whole). */
  counts(series: string, windowMs: number, now: number): HealthCounts {
    const totals = { delivered: 0, deferred: 0, bounced: 0, complained: 0 };
    const from = now - windowMs;
    for (const [start, delivered, deferred, bounced, complained] of this.#series.get(series) ?? []) {
      if (start + BUCKET_MS <= from || start > now) continue;
      totals.delivered += delivered;
      totals.deferred += deferred;
      totals.bounced += bounced;
      totals.complained += complained;
    }
    return totals;
  }

  sweep(now: number): void {
    for (const [series, buckets] of this.#series) {
      trim(buckets, now);
      if (buckets.length === 0) this.#series.delete(series);
    }
  }

  snapshot(now: number): Record<string, Bucket[]> {
    this.sweep(now);
    return Object.fromEntries(this.#series);
  }

  restore(series: Record<string, Bucket[]>): void {
    for (const [name, buckets] of Object.entries(series)) {
      this.#series.set(name, [...buckets].sort((a, b) => a[0] - b[0]));
    }
  }
}

function trim(buckets: Bucket[], now: number): void {
  let drop = 0;
  while (drop < buckets.length && (buckets[drop]?.[0] ?? 0) + BUCKET_MS <= now - KEEP_MS) drop++;
  if (drop > 0) buckets.splice(0, drop);
}
