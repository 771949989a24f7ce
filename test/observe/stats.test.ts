import { describe, expect, it } from 'vitest';
import { CampaignLabeler } from '../../gateway/observe/bounded-labels.js';
import { OutcomeStats } from '../../gateway/observe/stats.js';
import { FakeClock } from '../support/fake-clock.js';

describe('rolling outcome stats', () => {
  it('sums per source, provider, pool and node over a window that slides with the clock', () => {
    const clock = new FakeClock();
    const stats = new OutcomeStats({ node: 'gw-1', clock });
    const rec = (kind: 'delivered' | 'bounced' | 'queued', n: number, source: string, provider: string, pool = 'tx') => {
      for (let i = 0; i < n; i++) stats.record(kind, { pool, source, provider });
    };
    rec('delivered', 10, 'a', 'gmail');
    clock.advance(30_000);
    rec('delivered', 5, 'a', 'outlook');
    rec('bounced', 5, 'b', 'gmail', 'promo');
    stats.record('queued', { pool: 'tx', source: null, provider: null });

    const bySource = Object.fromEntries(stats.counts('source', 60_000).map((r) => [r.key, r.counts]));
    expect(bySource.a).toMatchObject({ delivered: 15, bounced: 0 });
    expect(bySource.b).toMatchObject({ bounced: 5 });
    expect(bySource['-']).toMatchObject({ queued: 1 });
    expect(stats.counts('provider', 10_000).find((r) => r.key === 'gmail')?.counts).toMatchObject({ delivered: 0, bounced: 5 });
    expect(stats.counts('node', 60_000)).toEqual([{ key: 'gw-1', counts: expect.objectContaining({ delivered: 15, bounced: 5 }) }]);

    const snap = stats.snapshot(60_000);
    expect(snap.window_s).toBe(60);
    expect(snap.totals).toMatchObject({ delivered: 15, bounced: 5, queued: 1, bounce_rate: 0.25 });
    expect(snap.by_pool.map((r) => r.key)).toEqual(['promo', 'tx']);
    expect(snap.by_source.find((r) => r.key === 'a')).toMatchObject({ delivered: 15, bounce_rate: 0, complaint_rate: 0, deferral_rate: 0 });
    expect(snap.series.t).toHaveLength(60);
    expect(snap.series.step_s).toBe(1);
    expect(snap.series.delivered[59]).toBe(0); // the current second is not in the series yet
    clock.advance(1000);
    const next = stats.snapshot(60_000).series;
    expect(next.t[59]).toBe(Math.floor(clock.now() / 1000) - 1);
    expect(next.delivered[59]).toBe(5);
    expect(next.delivered[29]).toBe(10);
    expect(next.delivered.reduce((a, b) => a + b, 0)).toBe(15);

    clock.advance(44_000); // the first 10 fall out of a 60 s window
    expect(stats.snapshot(60_000).totals.delivered).toBe(5);
    clock.advance(3_600_000); // everything falls out of the ring
    expect(stats.snapshot(3_600_000).totals.delivered).toBe(0);
  });

  it('steps long windows so a chart gets at most 300 points', () => {
    const clock = new FakeClock();
    const stats = new OutcomeStats({ node: 'gw-1', clock });
    for (let s = 0; s < 3600; s++) {
      stats.record('delivered', { pool: 'tx', source: 'a', provider: 'gmail' });
      clock.advance(1000);
    }
    const snap = stats.snapshot(3_600_000);
    expect(snap.series.step_s).toBe(12);
    expect(snap.series.t).toHaveLength(300);
    expect(snap.series.delivered[100]).toBeCloseTo(1);
    expect(snap.totals.delivered).toBe(3599); // the oldest second has just left the hour
  });

  it('keeps a bounded number of keys', () => {
    const stats = new OutcomeStats({ node: 'gw-1', clock: new FakeClock(), max_keys: 3 });
    for (let i = 0; i < 10; i++) stats.record('delivered', { pool: 'tx', source: `s${i}`, provider: 'gmail' });
    const keys = stats.counts('source', 60_000).map((r) => r.key).sort();
    expect(keys).toEqual(['other', 's0', 's1', 's2']);
  });
});

describe('campaign labels', () => {
  it('keeps the top campaigns by volume and maps the rest to "other"', () => {
    const clock = new FakeClock();
    const evicted: string[] = [];
    const l = new CampaignLabeler({ top: 2, clock, decay_ms: 3_600_000 });
    l.onEvict = (c) => evicted.push(c);
    expect(l.label(null)).toBe('none');
    expect(l.label('  ')).toBe('none');
    expect(l.label('x@example.com')).toBe('other');
    expect(l.label('<id@host>')).toBe('other');
    expect(l.label('a'.repeat(65))).toBe('other');
    expect(l.label('welcome')).toBe('welcome');
    expect(l.label('digest')).toBe('digest');
    expect(l.label('promo-1')).toBe('other');
    for (let i = 0; i < 10; i++) l.label('digest');
    // promo-1 needs twice the volume of the weakest labelled campaign (welcome: 1).
    expect(l.label('promo-1')).toBe('promo-1');
    expect(evicted).toEqual(['welcome']);
    expect(l.labelled().sort()).toEqual(['digest', 'promo-1']);
    // After a few hours of decay a new campaign can take over from the old big one.
    clock.advance(5 * 3_600_000);
    l.label('promo-1');
    for (let i = 0; i < 4; i++) l.label('fresh');
    expect(l.labelled()).toContain('fresh');
  });
});
