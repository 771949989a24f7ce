/** The report's arithmetic, on plain arrays so that tests can check it on known data. */

/**
 * Nearest-rank percentile (the smallest value with at least p % of the data at or below
 * it) of an ascending array; null when empty.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] ?? null;
}

/**
 * The most events in any window of `windowMs` (default one second), sliding over the
 * events: for each event at t, the events in (t − window, t]. `sorted` ascending, in ms.
 */
export function maxWindowCount(sorted: ArrayLike<number>, windowMs = 1000): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i] ?? 0;
    while ((sorted[j] ?? 0) <= t - windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** Events per bucket since `t0`: out[k] counts events in [t0 + k·bucket, t0 + (k+1)·bucket). */
export function bucketCounts(times: Iterable<number>, t0: number, bucketMs = 1000): number[] {
  const out: number[] = [];
  for (const t of times) {
    const k = Math.floor((t - t0) / bucketMs);
    if (k < 0) continue;
    while (out.length <= k) out.push(0);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** The same as a rate per second in each bucket. */
export function rateSeries(times: Iterable<number>, t0: number, bucketMs: number): number[] {
  return bucketCounts(times, t0, bucketMs).map((n) => round((n * 1000) / bucketMs, 1));
}

/** Buckets of 1 s for a run of a minute or more, finer for shorter runs so a chart has points. */
export function chooseBucketMs(spanMs: number): number {
  if (spanMs >= 60_000) return 1000;
  if (spanMs >= 20_000) return 500;
  if (spanMs >= 5_000) return 250;
  return 100;
}

export interface Bin {
  readonly from: number;
  readonly to: number;
  readonly count: number;
}

/**
 * A histogram on a log scale (latencies span from sub-millisecond to the retry schedule's
 * seconds): `perDecade` bins per power of ten, from the first bin holding data to the last.
 * Values at or below `floor` share the first bin.
 */
export function logHistogram(values: ArrayLike<number>, perDecade = 8, floor = 0.1): Bin[] {
  if (values.length === 0) return [];
  const index = (v: number): number => Math.floor(Math.log10(Math.max(v, floor) / floor) * perDecade);
  const counts = new Map<number, number>();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const k = index(values[i] ?? 0);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    lo = Math.min(lo, k);
    hi = Math.max(hi, k);
  }
  const bins: Bin[] = [];
  for (let k = lo; k <= hi; k++) {
    bins.push({ from: floor * 10 ** (k / perDecade), to: floor * 10 ** ((k + 1) / perDecade), count: counts.get(k) ?? 0 });
  }
  return bins;
}

export function mean(values: ArrayLike<number>): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] ?? 0;
  return sum / values.length;
}

export function round(x: number, digits = 1): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/** Ascending copy as a Float64Array (sorts numerically, unlike Array#sort). */
export function sortedCopy(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort();
}
