/**
 * Every Sluice metric, declared in one place (STYLE.md "Observability habits"). The
 * composition root builds one `Metrics` per node with the registry /metrics serves;
 * nothing here is a module-level singleton, so tests build as many as they like.
 *
 * Counters and histograms move through the methods below. Gauges that mirror state
 * owned elsewhere (queue, connections, warm-up, webhooks, state backend) are read at
 * scrape time from snapshot functions the core installs with the `set…Snapshot`
 * methods; a snapshot that throws keeps the previous values.
 */
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { BoundedLabel, CampaignLabeler, type CampaignLabelerOptions } from './bounded-labels.js';
import type { OutcomeEventKind } from './event-types.js';

export interface MetricsOptions {
  readonly registry: Registry;
  readonly node: string;
  /** Campaign label bounds (`top`, default 20). */
  readonly campaigns?: CampaignLabelerOptions;
  /** Distinct values kept per source/pool/provider/class label before "other" (default 200). */
  readonly max_label_values?: number;
  /** Process metrics (CPU, memory, event loop lag, GC); default true. */
  readonly default_metrics?: boolean;
}

export interface OutcomeLabels {
  readonly source: string | null;
  readonly pool: string;
  readonly provider: string | null;
  readonly class: string;
  /** The raw X-Campaign-ID (or null); the metrics bound it themselves. */
  readonly campaign: string | null;
  /** On bounced: the bounce reason (a closed vocabulary, config/bounce-rules.toml); else absent. */
  readonly reason?: string | null;
}

export type AuthScope = 'smtp' | 'admin';
export type SessionOutcome = 'completed' | 'rejected' | 'auth_failed' | 'tls_failed' | 'timeout' | 'error';
export type PluginFailureReason = 'threw' | 'timeout' | 'invalid_verdict';
/** What became of a message to a [feedback] address. */
export type BounceResult = 'bounced' | 'duplicate' | 'unmatched' | 'unverified' | 'not_failed' | 'no_recipient' | 'auto_reply' | 'not_bounce' | 'feedback';
export type FeedbackResult = 'complaint' | 'duplicate' | 'ignored' | 'unverified' | 'uncorrelated' | 'not_report' | 'malformed';

export interface QueueRow {
  readonly pool: string;
  readonly provider: string;
  readonly depth: number;
  readonly oldestSeconds: number;
}
export interface ConnectionRow {
  readonly source: string;
  readonly provider: string;
  readonly open: number;
}
export interface WarmupRow {
  readonly source: string;
  readonly used: number;
  /** Today's cap; null when the source is not warming up (no cap gauge then). */
  readonly cap: number | null;
}
export interface WebhookBacklogRow {
  readonly url: string;
  readonly backlog: number;
}
export interface AlertCountRow {
  readonly metric: string;
  readonly scope: string;
  readonly active: number;
}

type Rows<R> = readonly R[] | Promise<readonly R[]>;
type Snapshot<R> = () => Rows<R>;

const OUTCOME_LABELS = ['node', 'source', 'pool', 'provider', 'class', 'campaign', 'reason'] as const;
/** Only sluice_messages_bounced_total carries `reason` (the bounce rules' reason). */
const labelsOf = (kind: OutcomeEventKind) => OUTCOME_LABELS.filter((l) => l !== 'reason' || kind === 'bounced');
type OutcomeLabelName = (typeof OUTCOME_LABELS)[number];

const COUNTER_NAME: Record<OutcomeEventKind, string> = {
  queued: 'sluice_messages_accepted_total',
  delivered: 'sluice_messages_delivered_total',
  deferred: 'sluice_messages_deferred_total',
  bounced: 'sluice_messages_bounced_total',
  complained: 'sluice_messages_complained_total',
  suppressed: 'sluice_messages_suppressed_total',
  expired: 'sluice_messages_expired_total',
  cancelled: 'sluice_messages_cancelled_total',
};

const COUNTER_HELP: Record<OutcomeEventKind, string> = {
  queued: 'Recipients accepted and spooled (250 to DATA).',
  delivered: 'Recipients the remote MX accepted.',
  deferred: 'Delivery attempts that failed temporarily (re-queued).',
  bounced: 'Recipients that failed for good (DSN sent to the sender).',
  complained: 'Feedback-loop complaints (ARF) received.',
  suppressed: 'Recipients refused or dropped because they are on the suppression list.',
  expired: 'Recipients that reached queue max_age undelivered.',
  cancelled: 'Recipients an operator cancelled from the queue (no DSN).',
};

export class Metrics {
  readonly node: string;
  readonly campaigns: CampaignLabeler;
  readonly #outcomes: Record<OutcomeEventKind, Counter<OutcomeLabelName>>;
  readonly #labels: { source: BoundedLabel; pool: BoundedLabel; provider: BoundedLabel; class: BoundedLabel };
  readonly #seriesByCampaign = new Map<string, Map<string, Record<OutcomeLabelName, string>>>();
  readonly #sessions: Counter<'listener' | 'outcome'>;
  readonly #pluginFailures: Counter<'plugin' | 'hook' | 'reason'>;
  readonly #warmupExhausted: Counter<'source'>;
  readonly #sourceHeld: Counter<'source' | 'reason'>;
  /** `sluice_source_paused_total`: the older name of `sluice_source_held_total`, kept for alert rules (deprecated). */
  readonly #sourceHeldOldName: Counter<'source' | 'reason'>;
  readonly #holdReason = new BoundedLabel(32);
  readonly #webhookDropped: Counter<'url'>;
  readonly #eventLogDropped: Counter;
  readonly #feedbackReports: Counter<'type' | 'result'>;
  readonly #bouncesReceived: Counter<'result'>;
  readonly #feedbackType = new BoundedLabel(16);
  readonly #authFailures: Counter<'scope'>;
  readonly #authRefused: Counter<'scope'>;
  readonly #acceptLatency: Histogram<'listener'>;
  readonly #ingressRefused: Counter<'listener' | 'reason'>;
  readonly #ingressStress: Gauge<'listener'>;
  readonly #deliveryLatency: Histogram<'provider'>;
  readonly #queueTime: Histogram<'class'>;
  readonly #peerMessages: Counter<'direction' | 'kind' | 'result'>;
  readonly #replicaEvents: Counter<'event' | 'reason'>;
  #stateHealthy: () => boolean = () => true;
  #queue: Snapshot<QueueRow> = () => [];
  #connections: Snapshot<ConnectionRow> = () => [];
  #warmup: Snapshot<WarmupRow> = () => [];
  #webhooks: Snapshot<WebhookBacklogRow> = () => [];
  #alerts: Snapshot<AlertCountRow> = () => [];

  constructor(options: MetricsOptions) {
    const registers = [options.registry];
    this.node = options.node;
    this.campaigns = new CampaignLabeler(options.campaigns);
    this.campaigns.onEvict = (campaign) => this.#dropCampaign(campaign);
    const max = options.max_label_values ?? 200;
    this.#labels = {
      source: new BoundedLabel(max),
      pool: new BoundedLabel(max),
      provider: new BoundedLabel(max),
      class: new BoundedLabel(max),
    };
    const outcomes = {} as Record<OutcomeEventKind, Counter<OutcomeLabelName>>;
    for (const kind of Object.keys(COUNTER_NAME) as OutcomeEventKind[]) {
      outcomes[kind] = new Counter({
        name: COUNTER_NAME[kind],
        help: COUNTER_HELP[kind],
        labelNames: labelsOf(kind),
        registers,
      });
    }
    this.#outcomes = outcomes;
    this.#sessions = new Counter({
      name: 'sluice_sessions_total',
      help: 'SMTP sessions by listener and how they ended.',
      labelNames: ['listener', 'outcome'],
      registers,
    });
    this.#pluginFailures = new Counter({
      name: 'sluice_plugin_failures_total',
      help: 'Plugin hooks that threw or timed out (the transaction failed closed, 451 4.3.0).',
      labelNames: ['plugin', 'hook', 'reason'],
      registers,
    });
    this.#warmupExhausted = new Counter({
      name: 'sluice_warmup_exhausted_total',
      help: "Times a source's daily warm-up budget ran out.",
      labelNames: ['source'],
      registers,
    });
    this.#sourceHeld = new Counter({
      name: 'sluice_source_held_total',
      help: 'Times a source was held (whole, or toward one provider; source "*": a provider for every source), by reason.',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.#sourceHeldOldName = new Counter({
      name: 'sluice_source_paused_total',
      help: 'Deprecated: the older name of sluice_source_held_total, same values; move alert rules to the new name.',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.#webhookDropped = new Counter({
      name: 'sluice_webhook_dropped_total',
      help: 'Events a webhook dropped (backlog full or rejected by the endpoint).',
      labelNames: ['url'],
      registers,
    });
    this.#eventLogDropped = new Counter({
      name: 'sluice_event_log_dropped_total',
      help: 'Event log lines dropped because the disk could not keep up or failed.',
      registers,
    });
    this.#feedbackReports = new Counter({
      name: 'sluice_feedback_reports_total',
      help: 'Messages to [feedback] addresses, by Feedback-Type ("none" when not a report) and what became of them.',
      labelNames: ['type', 'result'],
      registers,
    });
    this.#bouncesReceived = new Counter({
      name: 'sluice_bounces_received_total',
      help: 'Recipients reported by mail to the [bounces] domain (VERP), and messages there that reported none, by what became of them.',
      labelNames: ['result'],
      registers,
    });
    this.#ingressRefused = new Counter({
      name: 'sluice_ingress_refused_total',
      help: 'Sessions refused or ended at a client limit ([limits]), and MAIL FROM refused for low disk (reason low_disk, 452 4.3.1), by listener and reason.',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.#ingressStress = new Gauge({
      name: 'sluice_ingress_stress',
      help: '1 while a listener is under stress (near max_connections): shorter timeouts and lower limits for untrusted clients.',
      labelNames: ['listener'],
      registers,
    });
    this.#authFailures = new Counter({
      name: 'sluice_auth_failures_total',
      help: 'Wrong credentials: SMTP AUTH (scope "smtp") and admin API tokens (scope "admin").',
      labelNames: ['scope'],
      registers,
    });
    this.#authRefused = new Counter({
      name: 'sluice_auth_refused_total',
      help: 'Attempts refused unchecked because the client IP or the account was locked out (SMTP 454 4.7.0, admin 429).',
      labelNames: ['scope'],
      registers,
    });
    this.#acceptLatency = new Histogram({
      name: 'sluice_accept_latency_seconds',
      help: 'From the end of DATA to the 250 reply (plugins, spool fsync).',
      labelNames: ['listener'],
      buckets: [0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#deliveryLatency = new Histogram({
      name: 'sluice_delivery_latency_seconds',
      help: 'One delivery attempt: connect (or reuse) to the final reply.',
      labelNames: ['provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.#queueTime = new Histogram({
      name: 'sluice_queue_time_seconds',
      help: 'From spooling to the final outcome (delivered, bounced or expired).',
      labelNames: ['class'],
      buckets: [1, 5, 15, 60, 300, 900, 3600, 14_400, 43_200, 86_400, 259_200, 432_000],
      registers,
    });
    this.#replicaEvents = new Counter({
      name: 'sluice_replica_events_total',
      help: 'Replicas ([cluster] replicas = 2): single_copy (accepted with one copy: no live peer took it), refused (451 4.3.0 under replica_policy = "required"), dropped, expired, taken_over (copies of a down node queued here).',
      labelNames: ['event', 'reason'],
      registers,
    });
    this.#peerMessages = new Counter({
      name: 'sluice_peer_messages_total',
      help: 'Messages passed between nodes over the cluster listener: direction (sent, received), kind (handoff, replica; unsigned: refused for want of valid facts) and result (ok, failed).',
      labelNames: ['direction', 'kind', 'result'],
      registers,
    });
    this.#declareGauges(registers);
    if (options.default_metrics ?? true) collectDefaultMetrics({ register: options.registry });
  }

  /** Counts one recipient outcome (`queued` feeds sluice_messages_accepted_total). */
  outcome(kind: OutcomeEventKind, labels: OutcomeLabels): void {
    const set: Record<OutcomeLabelName, string> = {
      node: this.node,
      source: this.#labels.source.value(labels.source),
      pool: this.#labels.pool.value(labels.pool),
      provider: this.#labels.provider.value(labels.provider),
      class: this.#labels.class.value(labels.class),
      campaign: this.campaigns.label(labels.campaign),
      ...(kind === 'bounced' ? { reason: labels.reason ?? 'undefined' } : {}),
    } as Record<OutcomeLabelName, string>;
    this.#remember(set);
    this.#outcomes[kind].inc(set);
  }

  session(listener: string, outcome: SessionOutcome): void {
    this.#sessions.inc({ listener, outcome });
  }

  pluginFailure(plugin: string, hook: string, reason: PluginFailureReason): void {
    this.#pluginFailures.inc({ plugin, hook, reason });
  }

  warmupExhausted(source: string): void {
    this.#warmupExhausted.inc({ source: this.#labels.source.value(source) });
  }

  /** `reason` is a short code ("admin", "bounce_rate", "provider_rule"…), not free text. */
  sourceHeld(source: string, reason: string): void {
    const labels = { source: this.#labels.source.value(source), reason: this.#holdReason.value(reason) };
    this.#sourceHeld.inc(labels);
    this.#sourceHeldOldName.inc(labels);
  }

  webhookDropped(url: string, count = 1): void {
    if (count > 0) this.#webhookDropped.inc({ url }, count);
  }

  eventLogDropped(count = 1): void {
    if (count > 0) this.#eventLogDropped.inc(count);
  }

  /** `type` is the report's Feedback-Type (bounded: unusual values read "other"), null when there was no report. */
  feedbackReport(type: string | null, result: FeedbackResult): void {
    this.#feedbackReports.inc({ type: this.#feedbackType.value(type), result });
  }

  /** A message this node took from a peer's cluster client (ok) or refused. */
  peerReceived(kind: 'handoff' | 'replica' | 'unsigned', ok: boolean): void {
    this.#peerMessages.inc({ direction: 'received', kind, result: ok ? 'ok' : 'failed' });
  }

  /** Replica bookkeeping; reason: no-peer | peers-failed for single_copy and refused, "" otherwise. */
  replicaEvent(event: 'single_copy' | 'refused' | 'dropped' | 'expired' | 'taken_over', reason: string, n = 1): void {
    if (n > 0) this.#replicaEvents.inc({ event, reason }, n);
  }

  /** A message this node passed to a peer (ok: after the peer's 250) or failed to. */
  peerSent(kind: 'handoff' | 'replica', ok: boolean): void {
    this.#peerMessages.inc({ direction: 'sent', kind, result: ok ? 'ok' : 'failed' });
  }

  /** What one bounce mailed back became (bounce/bounce-return.ts): `bounced` when it became an outcome. */
  bounceReceived(result: BounceResult): void {
    this.#bouncesReceived.inc({ result });
  }

  authFailure(scope: AuthScope): void {
    this.#authFailures.inc({ scope });
  }

  authRefused(scope: AuthScope): void {
    this.#authRefused.inc({ scope });
  }

  acceptLatency(listener: string, seconds: number): void {
    this.#acceptLatency.observe({ listener }, seconds);
  }

  /** A session refused or ended at a client limit, or a MAIL FROM refused for low disk (reason: client-limits.ts RefusedReason). */
  ingressRefused(listener: string, reason: string): void {
    this.#ingressRefused.inc({ listener, reason });
  }

  ingressStress(listener: string, on: boolean): void {
    this.#ingressStress.set({ listener }, on ? 1 : 0);
  }

  deliveryLatency(provider: string | null, seconds: number): void {
    this.#deliveryLatency.observe({ provider: this.#labels.provider.value(provider) }, seconds);
  }

  queueTime(klass: string, seconds: number): void {
    this.#queueTime.observe({ class: this.#labels.class.value(klass) }, seconds);
  }

  /** sluice_state_degraded reads 1 while `healthy()` answers false (e.g. `() => state.healthy()`). */
  setStateHealth(healthy: () => boolean): void {
    this.#stateHealthy = healthy;
  }
  /** sluice_queue_depth and sluice_queue_oldest_age_seconds, per (pool, provider). */
  setQueueSnapshot(fn: Snapshot<QueueRow>): void {
    this.#queue = memoize(fn);
  }
  /** sluice_connections_open per (source, provider). */
  setConnectionsSnapshot(fn: Snapshot<ConnectionRow>): void {
    this.#connections = fn;
  }
  /** sluice_warmup_used and sluice_warmup_cap per source (today, UTC). */
  setWarmupSnapshot(fn: Snapshot<WarmupRow>): void {
    this.#warmup = memoize(fn);
  }
  /** sluice_webhook_backlog per webhook (the Webhooks module offers `backlog()`). */
  setWebhookBacklog(fn: Snapshot<WebhookBacklogRow>): void {
    this.#webhooks = fn;
  }
  /** sluice_alerts_active per (metric, scope). */
  setAlertsSnapshot(fn: Snapshot<AlertCountRow>): void {
    this.#alerts = fn;
  }

  #remember(set: Record<OutcomeLabelName, string>): void {
    let series = this.#seriesByCampaign.get(set.campaign);
    if (series === undefined) {
      series = new Map();
      this.#seriesByCampaign.set(set.campaign, series);
    }
    const key = `${set.source}\0${set.pool}\0${set.provider}\0${set.class}\0${set.reason}`;
    if (!series.has(key)) series.set(key, set);
  }

  /** A campaign lost its label: drop its series so their number stays bounded. */
  #dropCampaign(campaign: string): void {
    const series = this.#seriesByCampaign.get(campaign);
    if (series === undefined) return;
    this.#seriesByCampaign.delete(campaign);
    for (const set of series.values()) {
      for (const [kind, counter] of Object.entries(this.#outcomes) as [OutcomeEventKind, Counter<OutcomeLabelName>][]) {
        // A series only exists on the counters whose label names it has: bounced ones carry a reason, the others none.
        if ((kind === 'bounced') === (set.reason !== undefined)) counter.remove(set);
      }
    }
  }

  #declareGauges(registers: Registry[]): void {
    // prom-client calls collect() with the gauge as `this`: these read this object's current snapshots.
    const read = {
      healthy: () => this.#stateHealthy(),
      queue: () => this.#queue(),
      connections: () => this.#connections(),
      warmup: () => this.#warmup(),
      webhooks: () => this.#webhooks(),
      alerts: () => this.#alerts(),
    };
    new Gauge({
      name: 'sluice_state_degraded',
      help: '1 while the shared state backend (Redis) does not answer and the node runs on its own share.',
      registers,
      collect() {
        let healthy = false;
        try {
          healthy = read.healthy();
        } catch {
          // A health check that throws is as good as an unhealthy backend.
        }
        this.set(healthy ? 0 : 1);
      },
    });
    new Gauge({
      name: 'sluice_queue_depth',
      help: 'Recipients waiting, per ready queue (pool, provider).',
      labelNames: ['pool', 'provider'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.queue, (r) => [{ pool: r.pool, provider: r.provider }, r.depth]);
      },
    });
    new Gauge({
      name: 'sluice_queue_oldest_age_seconds',
      help: 'Age of the oldest recipient waiting, per ready queue (pool, provider).',
      labelNames: ['pool', 'provider'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.queue, (r) => [{ pool: r.pool, provider: r.provider }, r.oldestSeconds]);
      },
    });
    new Gauge({
      name: 'sluice_connections_open',
      help: 'Open outbound SMTP connections, per (source, provider).',
      labelNames: ['source', 'provider'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.connections, (r) => [{ source: r.source, provider: r.provider }, r.open]);
      },
    });
    new Gauge({
      name: 'sluice_warmup_used',
      help: "Messages sent today from a source's warm-up budget.",
      labelNames: ['source'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.warmup, (r) => [{ source: r.source }, r.used]);
      },
    });
    new Gauge({
      name: 'sluice_warmup_cap',
      help: "Today's warm-up budget of a source (absent when the source is not warming up).",
      labelNames: ['source'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.warmup, (r) => (r.cap === null ? null : [{ source: r.source }, r.cap]));
      },
    });
    new Gauge({
      name: 'sluice_webhook_backlog',
      help: 'Events waiting to be posted, per webhook (its name or index, never its address).',
      labelNames: ['url'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.webhooks, (r) => [{ url: r.url }, r.backlog]);
      },
    });
    new Gauge({
      name: 'sluice_alerts_active',
      help: 'Alerts raised and not cleared, per (metric, scope).',
      labelNames: ['metric', 'scope'],
      registers,
      collect(): Promise<void> {
        return refresh(this, read.alerts, (r) => [{ metric: r.metric, scope: r.scope }, r.active]);
      },
    });
  }
}

/**
 * Replaces a gauge's series with the snapshot's rows (vanished rows vanish from the
 * scrape too). A snapshot that fails leaves the last values: one slow Redis call must
 * not fail the whole scrape.
 */
async function refresh<L extends string, R>(
  gauge: Gauge<L>,
  snapshot: Snapshot<R>,
  point: (row: R) => readonly [Partial<Record<L, string>>, number] | null,
): Promise<void> {
  let rows: readonly R[];
  try {
    rows = await snapshot();
  } catch {
    return;
  }
  gauge.reset();
  for (const row of rows) {
    const p = point(row);
    if (p !== null) gauge.set(p[0], p[1]);
  }
}

/** `[cluster] config = "redis"` (cluster/config-rollout.ts): what a node reports of the config versions. */
export interface RolloutMetrics {
  /** A version did not apply here; the last good one keeps running. */
  refused(): void;
}

/** `version` is read at scrape time: the version from Redis running (0: the node's own file only). */
export function rolloutMetrics(registry: Registry, version: () => number): RolloutMetrics {
  new Gauge({
    name: 'sluice_config_version',
    help: 'The config version from Redis this node runs (0: its own file only)',
    registers: [registry],
    collect() {
      this.set(version());
    },
  });
  const failures = new Counter({ name: 'sluice_config_rollout_failures_total', help: 'Config versions from Redis that did not apply on this node (the last good one kept running)', registers: [registry] });
  return { refused: () => failures.inc() };
}

/** Two gauges read one snapshot per scrape: share the answer for a second. */
function memoize<R>(fn: Snapshot<R>): Snapshot<R> {
  let cached: { at: number; rows: Rows<R> } | null = null;
  return () => {
    const now = performance.now();
    if (cached === null || now - cached.at > 1000) cached = { at: now, rows: Promise.resolve(fn()) };
    return cached.rows;
  };
}
