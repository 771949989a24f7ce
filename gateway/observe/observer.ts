/**
 * The observe module's one seam for the composition root: builds the metrics, the
 * rolling stats, the event log, the webhooks and the alerts from their config, listens
 * to the outcome bus, and turns each outcome (and each hold, lift, warm-up cap hit)
 * into a metric, a stats count, an event-log line and webhook posts. Every handler is
 * synchronous and cheap and never throws into the emitter (DESIGN.md: outcome
 * notifications are never awaited).
 */
import type { Registry } from 'prom-client';
import type { OutcomeEvent, OutcomeEvents } from '../plugin-host/public.js';
import type { Logger } from './logger.js';
import { systemClock, type Clock } from '../state/types.js';
import { Alerts, type AlertInputs, type AlertRule } from './alerts.js';
import type { CampaignLabelerOptions } from './bounded-labels.js';
import { fanOut, isoTime, outcomeRecord, OUTCOME_EVENT_KINDS, type EventSink, type OutcomeEventKind, type PeerStep } from './event-types.js';
import { EventLog } from './events.js';
import { Metrics } from './metrics.js';
import { OutcomeStats } from './stats.js';
import { Webhooks, type WebhookOptions, type WebhooksTuning } from './webhooks.js';

/** `[events]` as the config parsed it (sizes in bytes). */
export interface EventsConfig {
  /** The event log; absent: no log file. */
  readonly file?: string;
  /** Default 100 MB. */
  readonly max_size?: number;
  /** Default 5. */
  readonly keep?: number;
  readonly webhooks?: readonly WebhookOptions[];
}

export interface ObserverOptions {
  readonly node: string;
  readonly registry: Registry;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly events?: EventsConfig;
  /** `[[alerts]]`, windows in ms. */
  readonly alerts?: readonly AlertRule[];
  /** The queue and cluster side of the alert inputs; outcome counts come from the stats unless given. */
  readonly alert_inputs?: Partial<AlertInputs>;
  readonly campaigns?: CampaignLabelerOptions;
  readonly webhook_tuning?: WebhooksTuning;
  /** How far back /api/stats can look (default 1 h). */
  readonly stats_span_ms?: number;
}

/** What `attach` needs of the outcome emitter (a TypedEmitter<OutcomeEvents> fits). */
export interface OutcomeBus {
  on<K extends keyof OutcomeEvents>(event: K, listener: OutcomeEvents[K]): unknown;
  off<K extends keyof OutcomeEvents>(event: K, listener: OutcomeEvents[K]): unknown;
}

/** A hold of a source, of a source toward one provider, or of a provider (`source` "*"). */
export interface HoldChange {
  /** The source held, or "*" when the provider is held for every source. */
  readonly source: string;
  /** Set for a hold toward one provider. */
  readonly provider?: string | null;
  /** A short code for the metric ("admin", "bounce_rate", "provider_rule"…). */
  readonly reason: string;
  readonly by: string;
  /** Milliseconds since the epoch the hold lapses; null or absent: until lifted. */
  readonly until?: number | null;
}

export class Observer {
  readonly metrics: Metrics;
  readonly stats: OutcomeStats;
  readonly eventLog: EventLog | null;
  readonly webhooks: Webhooks | null;
  readonly alerts: Alerts;
  /** Event log + webhooks: where any other module's records go. */
  readonly sink: EventSink;
  readonly #node: string;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(options: ObserverOptions) {
    const clock = options.clock ?? systemClock;
    const events = options.events ?? {};
    this.#node = options.node;
    this.#clock = clock;
    this.#log = options.log;
    this.metrics = new Metrics({
      registry: options.registry,
      node: options.node,
      campaigns: { ...options.campaigns, clock: options.campaigns?.clock ?? clock },
    });
    this.stats = new OutcomeStats({ node: options.node, clock, span_ms: options.stats_span_ms ?? 3_600_000 });
    this.eventLog =
      events.file === undefined
        ? null
        : new EventLog(
            { file: events.file, max_size: events.max_size ?? 100 * 1024 * 1024, keep: events.keep ?? 5 },
            { log: options.log, metrics: this.metrics },
          );
    const hooks = events.webhooks ?? [];
    this.webhooks =
      hooks.length === 0
        ? null
        : new Webhooks(hooks, options.webhook_tuning, { log: options.log, metrics: this.metrics, clock });
    this.sink = fanOut([this.eventLog, this.webhooks]);
    const inputs = options.alert_inputs ?? {};
    this.alerts = new Alerts({
      node: options.node,
      rules: options.alerts ?? [],
      clock,
      log: options.log,
      sink: this.sink,
      inputs: {
        outcomeCounts: inputs.outcomeCounts ?? ((scope, windowMs) => this.stats.counts(scope, windowMs)),
        queueAges: inputs.queueAges ?? (() => []),
        nodes: inputs.nodes ?? (() => []),
      },
    });
    const webhooks = this.webhooks;
    if (webhooks !== null) this.metrics.setWebhookBacklog(() => webhooks.backlog());
    this.metrics.setAlertsSnapshot(() => this.alerts.counts());
  }

  /**
   * Listens to every outcome on `bus`; returns the function that stops listening.
   * `campaignOf` reads X-Campaign-ID for an outcome; by default a `campaign` field on
   * the event, when the event carries one.
   */
  attach(bus: OutcomeBus, campaignOf: (e: OutcomeEvent) => string | null = defaultCampaign): () => void {
    const listeners = OUTCOME_EVENT_KINDS.map((kind) => {
      const listener = (e: OutcomeEvent): void => this.outcome(kind, e, campaignOf(e));
      bus.on(kind, listener);
      return [kind, listener] as const;
    });
    return () => listeners.forEach(([kind, listener]) => bus.off(kind, listener));
  }

  /** One recipient outcome: metric, stats, event log line, webhooks. `peer`: on `queued`, how it came from a peer. */
  outcome(kind: OutcomeEventKind, e: OutcomeEvent, campaign: string | null, peer?: PeerStep): void {
    this.#safely(kind, () => {
      this.metrics.outcome(kind, { source: e.source, pool: e.pool, provider: e.provider, class: e.class, campaign, reason: e.bounce?.reason ?? null });
      this.stats.record(kind, { pool: e.pool, source: e.source, provider: e.provider });
      this.sink.publish(outcomeRecord(kind, e, this.#node, campaign, peer));
    });
  }

  /** A source (or a provider, `source` "*") was held: `source_held` / `provider_held` and the metric. */
  held(change: HoldChange): void {
    const event = change.source === '*' ? 'provider_held' : 'source_held';
    this.#safely(event, () => {
      this.metrics.sourceHeld(change.source, change.reason);
      this.sink.publish({ event, ...this.#hold(change) });
    });
  }

  /** That hold was lifted or lapsed: `source_lifted` / `provider_lifted`. */
  lifted(change: HoldChange): void {
    const event = change.source === '*' ? 'provider_lifted' : 'source_lifted';
    this.#safely(event, () => this.sink.publish({ event, ...this.#hold(change) }));
  }

  /** A pool was held (`pool_held`) or lifted (`pool_lifted`). */
  poolHold(event: 'pool_held' | 'pool_lifted', change: { readonly pool: string; readonly reason: string; readonly by: string; readonly until?: number | null }): void {
    this.#safely(event, () => {
      this.sink.publish({ event, at: isoTime(this.#clock.now()), node: this.#node, pool: change.pool, reason: change.reason, by: change.by, until: change.until == null ? null : isoTime(change.until) });
    });
  }

  warmupExhausted(source: string, day: string, cap: number): void {
    this.#safely('warmup_exhausted', () => {
      this.metrics.warmupExhausted(source);
      this.sink.publish({ event: 'warmup_exhausted', at: isoTime(this.#clock.now()), node: this.#node, source, day, cap });
    });
  }

  /** Starts evaluating the alert rules every `intervalMs` (default 15 s). */
  start(intervalMs?: number): void {
    this.alerts.start(intervalMs);
  }

  /** Stops the alerts, writes out the event log, and gives the webhooks `graceMs` to post. */
  async close(graceMs = 2_000): Promise<void> {
    this.alerts.stop();
    await Promise.all([this.eventLog?.close(), this.webhooks?.close(graceMs)]);
  }

  #hold(change: HoldChange) {
    return {
      at: isoTime(this.#clock.now()),
      node: this.#node,
      source: change.source,
      provider: change.provider ?? null,
      reason: change.reason,
      by: change.by,
      until: change.until == null ? null : isoTime(change.until),
    };
  }

  #safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err, event: what }, 'observe: recording an event failed');
    }
  }
}

function defaultCampaign(e: OutcomeEvent): string | null {
  const campaign = (e as OutcomeEvent & { readonly campaign?: unknown }).campaign;
  return typeof campaign === 'string' ? campaign : null;
}
