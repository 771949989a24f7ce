import { describe, expect, it } from 'vitest';
import { bucketCounts, chooseBucketMs, logHistogram, maxWindowCount, percentile, rateSeries, sortedCopy } from '../../loadtest/report/stats.js';

// The report's arithmetic on data whose answers are known by hand.
describe('percentile (nearest rank)', () => {
  const oneToHundred = sortedCopy(Array.from({ length: 100 }, (_, i) => 100 - i)); // 1 … 100, given unsorted

  it('picks the smallest value with p % at or below it', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 95)).toBe(95);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
  });

  it('works on small and empty sets', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([], 50)).toBeNull();
  });

  it('sorts numerically, not as strings', () => {
    expect(Array.from(sortedCopy([10, 9, 100, 1]))).toEqual([1, 9, 10, 100]);
  });
});

describe('maxWindowCount (largest 1-second window)', () => {
  it('counts events in (t − 1 s, t] for the busiest t', () => {
    const t = [0, 500, 999, 1000, 1200, 1400, 1600, 2600];
    // the window ending at 1600 holds 999, 1000, 1200, 1400, 1600; none holds six
    expect(maxWindowCount(t)).toBe(5);
  });

  it('excludes an event exactly one second earlier', () => {
    expect(maxWindowCount([0, 1000])).toBe(1);
    expect(maxWindowCount([0, 999.9])).toBe(2);
  });

  it('finds a burst in the middle of a steady stream', () => {
    const steady = Array.from({ length: 20 }, (_, i) => i * 1000); // 1 per second
    const burst = Array.from({ length: 50 }, (_, i) => 7000 + i * 10); // 50 in 0.5 s
    expect(maxWindowCount(sortedCopy([...steady, ...burst]))).toBe(51); // the burst plus the steady event at 7000
  });

  it('is 0 for no events and honours another window', () => {
    expect(maxWindowCount([])).toBe(0);
    expect(maxWindowCount([0, 100, 200, 300], 250)).toBe(3);
  });
});

describe('per-second series and histogram', () => {
  it('buckets events from t0', () => {
    expect(bucketCounts([1000, 1500, 2999, 4000], 1000)).toEqual([2, 1, 0, 1]);
    expect(rateSeries([0, 100, 200, 300], 0, 250)).toEqual([12, 4]); // 3 and 1 per 250 ms
    expect(chooseBucketMs(120_000)).toBe(1000);
    expect(chooseBucketMs(3_000)).toBe(100);
  });

  it('puts values into log bins that cover them all', () => {
    const bins = logHistogram([0, 0.05, 1, 10, 10, 100], 1, 0.1);
    expect(bins.reduce((n, b) => n + b.count, 0)).toBe(6);
    expect(bins[0]).toMatchObject({ count: 2 }); // 0 and 0.05 share the floor bin [0.1, 1)
    expect(bins.map((b) => b.count)).toEqual([2, 1, 2, 1]);
  });
});
