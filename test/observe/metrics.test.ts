import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { TypedEmitter } from 'tiny-typed-emitter';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutcomeEvents } from '../../gateway/plugin-host/public.js';
import { Metrics } from '../../gateway/observe/metrics.js';
import { outcomeEvent, parsePrometheus, startHarness, sum, type Harness } from './admin-harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function scrape(harness: Harness) {
  const res = await harness.request('GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheus(await res.text());
}

describe('/metrics', () => {
  it('counts outcomes from the bus with node, source, pool, provider, class and campaign labels', async () => {
    h = await startHarness();
    const bus = new TypedEmitter<OutcomeEvents>();
    const detach = h.observer.attach(bus, (e) => (e.queueId.startsWith('C') ? 'spring-sale' : null));
    for (let i = 0; i < 5; i++) bus.emit('queued', outcomeEvent({ queueId: `Q${i}`, source: null, provider: null }));
    for (let i = 0; i < 3; i++) bus.emit('delivered', outcomeEvent({ queueId: `Q${i}` }));
    bus.emit('delivered', outcomeEvent({ queueId: 'C1', source: 'b', provider: 'outlook', class: 'promotional', pool: 'promotional' }));
    bus.emit('deferred', outcomeEvent({ source: 'b', provider: 'outlook' }));
    bus.emit('bounced', outcomeEvent());
    bus.emit('complained', outcomeEvent());
    bus.emit('suppressed', outcomeEvent({ source: null, provider: null }));
    bus.emit('expired', outcomeEvent());
    detach();
    bus.emit('delivered', outcomeEvent()); // after detach: not counted

    const m = await scrape(h);
    expect(sum(m, 'sluice_messages_accepted_total')).toBe(5);
    expect(sum(m, 'sluice_messages_accepted_total', { source: 'none', provider: 'none', node: 'gw-1' })).toBe(5);
    expect(sum(m, 'sluice_messages_delivered_total')).toBe(4);
    expect(
      sum(m, 'sluice_messages_delivered_total', {
        node: 'gw-1',
        source: 'a',
        pool: 'transactional',
        provider: 'gmail',
        class: 'transactional',
        campaign: 'none',
      }),
    ).toBe(3);
    expect(sum(m, 'sluice_messages_delivered_total', { source: 'b', campaign: 'spring-sale', class: 'promotional' })).toBe(1);
    expect(sum(m, 'sluice_messages_deferred_total', { source: 'b', provider: 'outlook' })).toBe(1);
    expect(sum(m, 'sluice_messages_bounced_total')).toBe(1);
    expect(sum(m, 'sluice_messages_complained_total')).toBe(1);
    expect(sum(m, 'sluice_messages_suppressed_total')).toBe(1);
    expect(sum(m, 'sluice_messages_expired_total')).toBe(1);
  });

  it('never uses an address or a Message-ID as a campaign label, and keeps campaigns bounded', async () => {
    h = await startHarness({ observer: { campaigns: { top: 3 } } });
    const e = outcomeEvent();
    h.observer.outcome('delivered', e, 'someone@example.com');
    h.observer.outcome('delivered', e, '<abc.123@mail.example.com>');
    for (let c = 0; c < 40; c++) for (let i = 0; i <= c % 4; i++) h.observer.outcome('delivered', e, `camp-${c}`);
    // A late big campaign pushes out a small one.
    for (let i = 0; i < 50; i++) h.observer.outcome('delivered', e, 'black-friday');

    const m = await scrape(h);
    const campaigns = new Set(m.filter((s) => s.name === 'sluice_messages_delivered_total').map((s) => s.labels.campaign));
    expect([...campaigns].some((c) => c?.includes('@'))).toBe(false);
    expect(campaigns.has('other')).toBe(true);
    expect(campaigns.has('black-friday')).toBe(true);
    expect(campaigns.size).toBeLessThanOrEqual(3 + 1);
  });

  it('reads gauges from the snapshots the core installs, and survives one that throws', async () => {
    h = await startHarness({
      observer: {
        events: { webhooks: [{ url: 'http://127.0.0.1:9/hook', events: ['delivered'], secret: 's', name: 'crm' }] },
      },
    });
    const metrics = h.observer.metrics;
    let healthy = true;
    metrics.setStateHealth(() => healthy);
    metrics.setQueueSnapshot(async () => [
      { pool: 'transactional', provider: 'gmail', depth: 42, oldestSeconds: 12.5 },
      { pool: 'promotional', provider: 'outlook', depth: 7, oldestSeconds: 900 },
    ]);
    metrics.setConnectionsSnapshot(() => [{ source: 'a', provider: 'gmail', open: 3 }]);
    metrics.setWarmupSnapshot(() => [
      { source: 'c', used: 320, cap: 500 },
      { source: 'a', used: 10, cap: null },
    ]);
    h.observer.outcome('delivered', outcomeEvent(), null); // one event waits in the webhook backlog

    let m = await scrape(h);
    expect(sum(m, 'sluice_state_degraded')).toBe(0);
    expect(sum(m, 'sluice_queue_depth', { pool: 'transactional', provider: 'gmail' })).toBe(42);
    expect(sum(m, 'sluice_queue_oldest_age_seconds', { pool: 'promotional', provider: 'outlook' })).toBe(900);
    expect(sum(m, 'sluice_connections_open', { source: 'a', provider: 'gmail' })).toBe(3);
    expect(sum(m, 'sluice_warmup_used', { source: 'c' })).toBe(320);
    expect(sum(m, 'sluice_warmup_cap', { source: 'c' })).toBe(500);
    expect(m.some((s) => s.name === 'sluice_warmup_cap' && s.labels.source === 'a')).toBe(false);
    expect(sum(m, 'sluice_webhook_backlog', { url: 'crm' })).toBe(1);

    healthy = false;
    metrics.setConnectionsSnapshot(() => {
      throw new Error('redis down');
    });
    m = await scrape(h);
    expect(sum(m, 'sluice_state_degraded')).toBe(1);
    expect(sum(m, 'sluice_connections_open', { source: 'a', provider: 'gmail' })).toBe(3); // last known value
  });

  it('exposes the counters, histograms and process metrics', async () => {
    h = await startHarness();
    const metrics = h.observer.metrics;
    metrics.session('relay-25', 'completed');
    metrics.session('relay-25', 'completed');
    metrics.session('submission-587', 'auth_failed');
    metrics.pluginFailure('classify', 'data', 'timeout');
    metrics.warmupExhausted('c');
    metrics.acceptLatency('relay-25', 0.012);
    metrics.deliveryLatency('gmail', 0.4);
    metrics.queueTime('transactional', 3);
    h.observer.held({ source: 'a', reason: 'admin', by: 'test' });

    const m = await scrape(h);
    expect(sum(m, 'sluice_sessions_total', { listener: 'relay-25', outcome: 'completed' })).toBe(2);
    expect(sum(m, 'sluice_sessions_total', { outcome: 'auth_failed' })).toBe(1);
    expect(sum(m, 'sluice_plugin_failures_total', { plugin: 'classify', hook: 'data', reason: 'timeout' })).toBe(1);
    expect(sum(m, 'sluice_warmup_exhausted_total', { source: 'c' })).toBe(1);
    expect(sum(m, 'sluice_source_held_total', { source: 'a', reason: 'admin' })).toBe(1);
    // The older name stays, with the same value, for alert rules written against it.
    expect(sum(m, 'sluice_source_paused_total', { source: 'a', reason: 'admin' })).toBe(1);
    expect(sum(m, 'sluice_accept_latency_seconds_count', { listener: 'relay-25' })).toBe(1);
    expect(sum(m, 'sluice_accept_latency_seconds_bucket', { listener: 'relay-25', le: '0.025' })).toBe(1);
    expect(sum(m, 'sluice_delivery_latency_seconds_sum', { provider: 'gmail' })).toBeCloseTo(0.4);
    expect(sum(m, 'sluice_queue_time_seconds_count', { class: 'transactional' })).toBe(1);
    expect(m.some((s) => s.name === 'sluice_webhook_dropped_total' || s.name === 'sluice_event_log_dropped_total')).toBe(true);
    expect(m.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(m.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('declares every metric the Grafana dashboard queries', async () => {
    const registry = new Registry();
    new Metrics({ registry, node: 'gw-1' });
    const dashboard = await readFile(join(import.meta.dirname, '..', '..', 'config', 'grafana', 'sluice.json'), 'utf8');
    const used = new Set([...dashboard.matchAll(/\b((?:sluice|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1] ?? ''));
    expect(used.size).toBeGreaterThan(20);
    for (const name of used) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      expect(registry.getSingleMetric(base) ?? registry.getSingleMetric(name), name).toBeDefined();
    }
  });
});
