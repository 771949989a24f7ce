/**
 * Alerts (`[[alerts]]`): rules over bounce, complaint and deferral rates, queue age and
 * node liveness, evaluated every few seconds from an injected `AlertInputs`. A rule
 * raises one alert per scope value (source, pool, provider or node) that crosses its
 * threshold, and clears it when the value is back at or under it. Each change goes to
 * the event sink (event log and webhooks) and to a ring of recent alerts the dashboard
 * reads.
 */
import type { Logger } from './logger.js';
import type { Clock } from '../state/types.js';
import {
  isoTime,
  type AlertMetric,
  type AlertScope,
  type AlertView,
  type EventSink,
} from './event-types.js';
import type { AlertCountRow } from './metrics.js';
import { outcomeRates, type RateInputs } from './stats.js';

export interface AlertRule {
  readonly metric: AlertMetric;
  readonly scope: AlertScope;
  /** A ratio (0.05 = 5 %) for the rates; seconds for queue_age; ignored for node_down. */
  readonly threshold: number;
  /**
   * Milliseconds. For the rates: the window the rate is measured over. For queue_age
   * and node_down: how long the condition must hold before the alert is raised.
   */
  readonly window: number;
  /** Rates only: fewer messages than this in the window never raise (default 20). */
  readonly min_volume?: number;
  /** Names the rule in alert ids and messages; default `<metric>_<scope>_<index>`. */
  readonly name?: string;
}

type Rows<R> = readonly R[] | Promise<readonly R[]>;

/** What the alerts read; every method may be async (the state backend) and may throw. */
export interface AlertInputs {
  /** Outcome counts per scope value over the last `windowMs` (OutcomeStats.counts fits). */
  outcomeCounts(scope: AlertScope, windowMs: number): Rows<{ readonly key: string; readonly counts: RateInputs }>;
  /** The oldest waiting message's age per scope value (pool, provider or node). */
  queueAges(scope: AlertScope): Rows<{ readonly key: string; readonly oldestSeconds: number }>;
  /** Every node the cluster knows, live or not. */
  nodes(): Rows<{ readonly id: string; readonly live: boolean }>;
}

export interface AlertsOptions {
  readonly node: string;
  readonly rules: readonly AlertRule[];
  readonly inputs: AlertInputs;
  readonly sink: EventSink;
  readonly clock: Clock;
  readonly log?: Logger;
  /** Alerts (raised and cleared) kept for the dashboard (default 100). */
  readonly recent?: number;
}

interface Observation {
  readonly key: string;
  readonly value: number;
  /** False when there is too little data to judge (the alert clears). */
  readonly known: boolean;
}

export class Alerts {
  readonly #options: AlertsOptions;
  readonly #names: string[];
  readonly #active = new Map<string, AlertView>();
  /** When a sustained condition (queue_age, node_down) was first seen, per alert id. */
  readonly #since = new Map<string, number>();
  readonly #recent: AlertView[] = [];
  #timer: NodeJS.Timeout | null = null;
  #running = false;

  constructor(options: AlertsOptions) {
    this.#options = options;
    this.#names = options.rules.map((r, i) => r.name ?? `${r.metric}_${r.scope}_${i}`);
  }

  /** Evaluates every `intervalMs` (default 15 s) until stop(). */
  start(intervalMs = 15_000): void {
    this.stop();
    this.#timer = setInterval(() => void this.evaluate(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One pass over every rule; a rule whose inputs fail keeps its alerts as they are. */
  async evaluate(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (const [i, rule] of this.#options.rules.entries()) {
        const name = this.#names[i] ?? String(i);
        let seen: Observation[];
        try {
          seen = await this.#observe(rule);
        } catch (err) {
          this.#options.log?.warn({ err, rule: name }, 'alert inputs unavailable; rule skipped');
          continue;
        }
        this.#apply(rule, name, seen);
      }
    } finally {
      this.#running = false;
    }
  }

  active(): AlertView[] {
    return [...this.#active.values()];
  }

  /** Newest first, raised and cleared. */
  recent(): AlertView[] {
    return [...this.#recent].reverse();
  }

  /** Rows for sluice_alerts_active. */
  counts(): AlertCountRow[] {
    const rows = new Map<string, { metric: string; scope: string; active: number }>();
    for (const a of this.#active.values()) {
      const k = `${a.metric}/${a.scope}`;
      const row = rows.get(k) ?? { metric: a.metric, scope: a.scope, active: 0 };
      row.active++;
      rows.set(k, row);
    }
    return [...rows.values()];
  }

  async #observe(rule: AlertRule): Promise<Observation[]> {
    const { inputs } = this.#options;
    switch (rule.metric) {
      case 'bounce_rate':
      case 'complaint_rate':
      case 'deferral_rate': {
        const metric = rule.metric;
        const min = rule.min_volume ?? 20;
        return (await inputs.outcomeCounts(rule.scope, rule.window)).map(({ key, counts }) => {
          const rate = outcomeRates(counts)[metric];
          const volume = rateVolume(metric, counts);
          return { key, value: rate ?? 0, known: rate !== null && volume >= min };
        });
      }
      case 'queue_age':
        return (await inputs.queueAges(rule.scope)).map((q) => ({ key: q.key, value: q.oldestSeconds, known: true }));
      case 'node_down':
        return (await inputs.nodes()).map((n) => ({ key: n.id, value: 0, known: !n.live }));
    }
  }

  #apply(rule: AlertRule, name: string, seen: readonly Observation[]): void {
    const now = this.#options.clock.now();
    const present = new Set<string>();
    for (const o of seen) {
      const id = `${name}:${o.key}`;
      present.add(id);
      const over = o.known && (rule.metric === 'node_down' || o.value > rule.threshold);
      if (!over) {
        this.#since.delete(id);
        this.#clear(id, o.value, now);
        continue;
      }
      const since = this.#since.get(id) ?? now;
      this.#since.set(id, since);
      if (this.#active.has(id)) continue;
      const sustained = rule.metric === 'queue_age' || rule.metric === 'node_down';
      if (sustained && now - since < rule.window) continue;
      const value = rule.metric === 'node_down' ? (now - since) / 1000 : o.value;
      this.#raise(rule, name, id, { ...o, value }, now);
    }
    // A scope value that no longer shows up (a drained queue, a removed node) is back to normal.
    for (const id of [...this.#since.keys(), ...this.#active.keys()]) {
      if (!id.startsWith(`${name}:`) || present.has(id)) continue;
      this.#since.delete(id);
      this.#clear(id, 0, now);
    }
  }

  #raise(rule: AlertRule, name: string, id: string, o: Observation, now: number): void {
    const view: AlertView = {
      id,
      rule: name,
      metric: rule.metric,
      scope: rule.scope,
      key: o.key,
      value: o.value,
      threshold: rule.threshold,
      window_s: Math.round(rule.window / 1000),
      message: describe(rule, o),
      raised_at: isoTime(now),
      cleared_at: null,
    };
    this.#active.set(id, view);
    this.#remember(view);
    this.#options.log?.warn({ alert: view }, `alert: ${view.message}`);
    this.#options.sink.publish({ event: 'alert', at: view.raised_at, node: this.#options.node, alert: view });
  }

  #clear(id: string, value: number, now: number): void {
    const view = this.#active.get(id);
    if (view === undefined) return;
    this.#active.delete(id);
    const cleared: AlertView = { ...view, value, cleared_at: isoTime(now) };
    const i = this.#recent.indexOf(view);
    if (i >= 0) this.#recent[i] = cleared;
    else this.#remember(cleared);
    this.#options.log?.info({ alert: cleared }, `alert cleared: ${view.message}`);
    this.#options.sink.publish({ event: 'alert_cleared', at: cleared.cleared_at ?? '', node: this.#options.node, alert: cleared });
  }

  #remember(view: AlertView): void {
    this.#recent.push(view);
    const max = this.#options.recent ?? 100;
    if (this.#recent.length > max) this.#recent.splice(0, this.#recent.length - max);
  }
}

function rateVolume(metric: 'bounce_rate' | 'complaint_rate' | 'deferral_rate', c: RateInputs): number {
  switch (metric) {
    case 'bounce_rate':
      return c.delivered + c.bounced;
    case 'complaint_rate':
      return c.delivered;
    case 'deferral_rate':
      return c.delivered + c.deferred + c.bounced;
  }
}

function describe(rule: AlertRule, o: Observation): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const scope = `${rule.scope} ${o.key}`;
  switch (rule.metric) {
    case 'bounce_rate':
    case 'complaint_rate':
    case 'deferral_rate':
      return `${rule.metric} of ${scope} is ${pct(o.value)} over ${human(rule.window / 1000)} (threshold ${pct(rule.threshold)})`;
    case 'queue_age':
      return `oldest message in ${scope} has waited ${human(o.value)} (threshold ${human(rule.threshold)})`;
    case 'node_down':
      return `node ${o.key} is down (for ${human(o.value)})`;
  }
}

function human(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
