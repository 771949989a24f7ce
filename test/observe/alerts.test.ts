import { describe, expect, it } from 'vitest';
import { Alerts, type AlertRule } from '../../gateway/observe/alerts.js';
import type { AlertRecord, EventRecord } from '../../gateway/observe/event-types.js';
import { OutcomeStats } from '../../gateway/observe/stats.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLog } from './admin-harness.js';

function setup(rules: AlertRule[], extra: { queue?: () => Array<{ key: string; oldestSeconds: number }>; nodes?: () => Array<{ id: string; live: boolean }> } = {}) {
  const clock = new FakeClock();
  const stats = new OutcomeStats({ node: 'gw-1', clock });
  const published: AlertRecord[] = [];
  const { log } = captureLog();
  const alerts = new Alerts({
    node: 'gw-1',
    rules,
    clock,
    log,
    sink: { publish: (r: EventRecord) => published.push(r as AlertRecord) },
    inputs: {
      outcomeCounts: (scope, windowMs) => stats.counts(scope, windowMs),
      queueAges: extra.queue ?? (() => []),
      nodes: extra.nodes ?? (() => []),
    },
  });
  const record = (kind: 'delivered' | 'bounced' | 'complained' | 'deferred', n: number, source: string, provider = 'gmail') => {
    for (let i = 0; i < n; i++) stats.record(kind, { pool: 'transactional', source, provider });
  };
  return { clock, stats, alerts, published, record };
}

describe('alerts', () => {
  it('raises a bounce-rate alert per source and clears it when the rate is back under', async () => {
    const t = setup([{ metric: 'bounce_rate', scope: 'source', threshold: 0.05, window: 300_000, min_volume: 20 }]);
    t.record('delivered', 95, 'a');
    t.record('bounced', 10, 'a');
    t.record('delivered', 100, 'b');
    t.record('bounced', 1, 'b');
    t.record('bounced', 5, 'c'); // 100 % but under min_volume: no alert
    await t.alerts.evaluate();

    expect(t.alerts.active().map((a) => a.key)).toEqual(['a']);
    const raised = t.published[0];
    expect(raised?.event).toBe('alert');
    expect(raised?.node).toBe('gw-1');
    expect(raised?.alert).toMatchObject({
      id: 'bounce_rate_source_0:a',
      metric: 'bounce_rate',
      scope: 'source',
      key: 'a',
      threshold: 0.05,
      window_s: 300,
      raised_at: '2026-11-01T12:00:00.000Z',
      cleared_at: null,
    });
    expect(raised?.alert.value).toBeCloseTo(10 / 105);
    expect(raised?.alert.message).toBe('bounce_rate of source a is 9.5% over 5m (threshold 5.0%)');

    await t.alerts.evaluate(); // still over: no second event
    expect(t.published).toHaveLength(1);

    t.clock.advance(10_000);
    t.record('delivered', 200, 'a'); // 10 / 305 = 3.3 %
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    expect(t.published.map((p) => p.event)).toEqual(['alert', 'alert_cleared']);
    expect(t.published[1]?.alert).toMatchObject({ id: 'bounce_rate_source_0:a', cleared_at: '2026-11-01T12:00:10.000Z' });
    expect(t.alerts.recent()).toEqual([expect.objectContaining({ id: 'bounce_rate_source_0:a', cleared_at: '2026-11-01T12:00:10.000Z' })]);
    expect(t.alerts.counts()).toEqual([]);
  });

  it('clears a rate alert once its window has moved past the bad traffic', async () => {
    const t = setup([{ name: 'complaints', metric: 'complaint_rate', scope: 'provider', threshold: 0.003, window: 60_000, min_volume: 100 }]);
    t.record('delivered', 1000, 'a', 'yahoo');
    t.record('complained', 5, 'a', 'yahoo');
    await t.alerts.evaluate();
    expect(t.alerts.active().map((a) => a.id)).toEqual(['complaints:yahoo']);
    expect(t.alerts.counts()).toEqual([{ metric: 'complaint_rate', scope: 'provider', active: 1 }]);
    t.clock.advance(61_000);
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    expect(t.published.map((p) => p.event)).toEqual(['alert', 'alert_cleared']);
  });

  it('raises queue_age only after the condition held for the window', async () => {
    let age = 900;
    const t = setup([{ metric: 'queue_age', scope: 'pool', threshold: 600, window: 60_000 }], {
      queue: () => [
        { key: 'promotional', oldestSeconds: age },
        { key: 'transactional', oldestSeconds: 5 },
      ],
    });
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    t.clock.advance(30_000);
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    t.clock.advance(31_000);
    await t.alerts.evaluate();
    expect(t.alerts.active().map((a) => a.message)).toEqual(['oldest message in pool promotional has waited 15m (threshold 10m)']);
    age = 20;
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    expect(t.published.map((p) => p.event)).toEqual(['alert', 'alert_cleared']);
  });

  it('raises node_down for a node missing longer than the window, and clears it when it is back', async () => {
    let live = false;
    const t = setup([{ metric: 'node_down', scope: 'node', threshold: 0, window: 30_000 }], {
      nodes: () => [
        { id: 'gw-1', live: true },
        { id: 'gw-2', live },
      ],
    });
    await t.alerts.evaluate();
    t.clock.advance(30_000);
    await t.alerts.evaluate();
    expect(t.alerts.active()).toMatchObject([{ key: 'gw-2', value: 30, message: 'node gw-2 is down (for 30s)' }]);
    live = true;
    t.clock.advance(5_000);
    await t.alerts.evaluate();
    expect(t.alerts.active()).toEqual([]);
    expect(t.published.map((p) => [p.event, p.alert.key])).toEqual([
      ['alert', 'gw-2'],
      ['alert_cleared', 'gw-2'],
    ]);
  });

  it('keeps its alerts when the inputs fail', async () => {
    let fail = false;
    const t = setup([{ metric: 'node_down', scope: 'node', threshold: 0, window: 0 }], {
      nodes: () => {
        if (fail) throw new Error('redis down');
        return [{ id: 'gw-2', live: false }];
      },
    });
    await t.alerts.evaluate();
    expect(t.alerts.active()).toHaveLength(1);
    fail = true;
    await t.alerts.evaluate();
    expect(t.alerts.active()).toHaveLength(1);
    expect(t.published).toHaveLength(1);
  });
});
