// The health monitor's verdict on counts: nothing below min_volume, then the first rate
// over its limit (bounce, complaint, deferral), named with the numbers behind it.
import { expect, test } from 'vitest';
import { judge, type PoolHealth } from '../../gateway/shaping/health-monitor.js';

const h: PoolHealth = { max_bounce_rate: 0.1, max_deferral_rate: 0.5, max_complaint_rate: 0.003, min_volume: 50, window: 3_600_000, hold_for: 1_800_000 };
const counts = (delivered: number, deferred: number, bounced: number, complained = 0) => ({ delivered, deferred, bounced, complained });

test('below min_volume nothing is judged', () => {
  expect(judge(counts(0, 0, 49), h, h.window)).toBeNull();
});

test('each rate over its limit holds, bounces first', () => {
  expect(judge(counts(80, 0, 20), h, h.window)).toEqual({ reason: 'bounce_rate', detail: 'bounce rate 20% over max_bounce_rate 10% (20 of 100 in the last 1h)' });
  expect(judge(counts(40, 60, 0), h, h.window)?.reason).toBe('deferral_rate');
  expect(judge(counts(1000, 0, 0, 4), h, h.window)?.reason).toBe('complaint_rate');
  expect(judge(counts(95, 0, 5), h, 90_000)).toBeNull();
});
