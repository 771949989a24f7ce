/**
 * The records the observe module writes: one shape for the event log, the webhooks and
 * the alert ring (docs/OBSERVABILITY.md "Event log"). Field names are snake_case because
 * these records leave the process as JSON; `event` is a stable name in the past tense.
 */
import { OUTCOME_EVENT_KINDS, type OutcomeEvent, type OutcomeEventKind } from '../plugin-host/public.js';

export { OUTCOME_EVENT_KINDS, type OutcomeEventKind } from '../plugin-host/public.js';

export interface OutcomeRecord {
  readonly event: OutcomeEventKind;
  /** ISO 8601, UTC, milliseconds. */
  readonly at: string;
  readonly node: string;
  readonly queue_id: string;
  readonly message_id: string | null;
  readonly recipient: string;
  readonly mail_from: string;
  readonly class: string;
  readonly pool: string;
  readonly source: string | null;
  readonly provider: string | null;
  readonly mx: string | null;
  readonly reply: string | null;
  readonly enhanced: string | null;
  readonly attempt: number;
  readonly campaign: string | null;
  /** On `bounced`: the bounce reason (config/bounce-rules.toml) and whether the address is bad. */
  readonly bounce?: { readonly reason: string; readonly hard: boolean };
  /** On `complained`: the feedback report (type, reporter, user_agent, arrival_date, matched_by). */
  readonly feedback?: { readonly type: string; readonly reporter: string | null; readonly user_agent: string | null; readonly arrival_date: string | null; readonly matched_by: string };
  /** On `queued` for a message that came from a peer: how it came (GET /api/messages/ID links the nodes' parts with it). */
  readonly peer?: PeerStep;
}

/** How a message came to this node from a peer: handed over, or taken over from its replica. */
export interface PeerStep {
  readonly how: 'handoff' | 'takeover';
  /** The node it came from (for a takeover: the node that went down). */
  readonly from: string;
  /** Its queue id there. */
  readonly queue_id: string;
  /** The node that accepted it from its client. */
  readonly origin: string;
  /** Node-to-node passes so far, this one included. */
  readonly hops: number;
  /** The nodes and queue ids it went through before this one, oldest first ("n1/<id> n2/<id>"). */
  readonly trace: string;
}

/** Recipients of a message passed to a peer (docs/CLUSTER.md "Handoff"); the peer reports their outcomes. */
export interface HandoffRecord {
  readonly event: 'handed_off';
  /** When the handoff began (the peer's `queued` record of it comes after). */
  readonly at: string;
  readonly node: string;
  readonly queue_id: string;
  readonly message_id: string | null;
  readonly recipients: readonly string[];
  /** The peer, and the queue id it gave the message (null when its reply named none). */
  readonly to: string;
  readonly to_queue_id: string | null;
  readonly source: string;
  readonly pool: string;
  readonly reply: string;
}

/**
 * A hold was set or lifted (README "Words"): on a source (`source_held`, `source_lifted`;
 * `provider` set when it is held toward that provider only) or on a provider for every
 * source (`provider_held`, `provider_lifted`; `source` is `"*"`). Before, all four were
 * `source_paused` / `source_resumed` (HOLD_EVENT_ALIASES).
 */
export interface SourceHoldRecord {
  readonly event: 'source_held' | 'source_lifted' | 'provider_held' | 'provider_lifted';
  readonly at: string;
  readonly node: string;
  /** The source held, or `"*"` when the provider is held for every source. */
  readonly source: string;
  /** Set when the hold is toward this provider only. */
  readonly provider: string | null;
  readonly reason: string;
  readonly by: string;
  /** ISO time the hold lapses on its own; null: until lifted. */
  readonly until: string | null;
}

/** A pool was held (no source of it sends) or lifted. */
export interface PoolHoldRecord {
  readonly event: 'pool_held' | 'pool_lifted';
  readonly at: string;
  readonly node: string;
  readonly pool: string;
  readonly reason: string;
  readonly by: string;
  /** ISO time the hold lapses on its own; null: until lifted. */
  readonly until: string | null;
}

export interface WarmupExhaustedRecord {
  readonly event: 'warmup_exhausted';
  readonly at: string;
  readonly node: string;
  readonly source: string;
  /** UTC day, `YYYY-MM-DD`. */
  readonly day: string;
  readonly cap: number;
}

export type AlertMetric = 'bounce_rate' | 'complaint_rate' | 'deferral_rate' | 'queue_age' | 'node_down';
export type AlertScope = 'source' | 'pool' | 'provider' | 'node';

/** One alert as the event log, the webhooks and /api/alerts show it. */
export interface AlertView {
  /** `<rule>:<key>`, stable while the condition lasts. */
  readonly id: string;
  readonly rule: string;
  readonly metric: AlertMetric;
  readonly scope: AlertScope;
  /** The scope's value: a source, pool, provider or node name. */
  readonly key: string;
  /** A ratio (0..1) for the rates, seconds for queue_age, seconds down for node_down. */
  readonly value: number;
  readonly threshold: number;
  readonly window_s: number;
  readonly message: string;
  readonly raised_at: string;
  readonly cleared_at: string | null;
}

export interface AlertRecord {
  readonly event: 'alert' | 'alert_cleared';
  readonly at: string;
  readonly node: string;
  readonly alert: AlertView;
}

/** An operator's queue action (issue 17), on the node that applied it. */
export interface QueueActionRecord {
  readonly event: 'queue_action';
  readonly at: string;
  readonly node: string;
  /** `hold` and `lift` were `suspend` and `resume` before (the routes keep those as aliases). */
  readonly action: 'hold' | 'lift' | 'retry' | 'bounce' | 'cancel' | 'rebind';
  readonly selector: Readonly<Record<string, string>>;
  readonly dry_run: boolean;
  readonly messages: number;
  readonly recipients: number;
  readonly pool: string | null;
  readonly duration_s: number | null;
  readonly by: string;
}

/** A copy of a peer's message kept here ([cluster] replicas = 2), before the peer's 250. */
export interface ReplicaRecord {
  readonly event: 'replica_kept';
  readonly at: string;
  readonly node: string;
  /** The message's queue id on `origin` (a takeover keeps it). */
  readonly queue_id: string;
  readonly origin: string;
  readonly recipients: number;
}

export type EventRecord = OutcomeRecord | SourceHoldRecord | PoolHoldRecord | WarmupExhaustedRecord | AlertRecord | QueueActionRecord | HandoffRecord | ReplicaRecord;
export type EventName = EventRecord['event'];

export const EVENT_NAMES: readonly EventName[] = [
  ...OUTCOME_EVENT_KINDS,
  'source_held',
  'source_lifted',
  'provider_held',
  'provider_lifted',
  'pool_held',
  'pool_lifted',
  'warmup_exhausted',
  'alert',
  'alert_cleared',
  'queue_action',
  'handed_off',
  'replica_kept',
];

/**
 * Older event names a webhook's `events` may still list (deprecated, README "Words"):
 * each selects the records it used to, and those are posted to that webhook under the
 * older name, so a receiver written for it keeps working.
 */
export const HOLD_EVENT_ALIASES: Readonly<Record<string, readonly EventName[]>> = {
  source_paused: ['source_held', 'provider_held'],
  source_resumed: ['source_lifted', 'provider_lifted'],
};

/** Where records go; `publish` is synchronous, cheap, and never throws. */
export interface EventSink {
  publish(record: EventRecord): void;
}

export function fanOut(sinks: ReadonlyArray<EventSink | null>): EventSink {
  const live = sinks.filter((s): s is EventSink => s !== null);
  return {
    publish(record) {
      for (const sink of live) sink.publish(record);
    },
  };
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function outcomeRecord(
  kind: OutcomeEventKind,
  e: OutcomeEvent,
  node: string,
  campaign: string | null,
  peer?: PeerStep,
): OutcomeRecord {
  return {
    event: kind,
    at: isoTime(e.at),
    node,
    queue_id: e.queueId,
    message_id: e.messageId,
    recipient: e.recipient,
    mail_from: e.mailFrom,
    class: e.class,
    pool: e.pool,
    source: e.source,
    provider: e.provider,
    mx: e.mx,
    reply: e.reply,
    enhanced: e.enhanced,
    attempt: e.attempt,
    campaign,
    ...(e.bounce ? { bounce: { reason: e.bounce.reason, hard: e.bounce.hard } } : {}),
    ...(e.feedback ? { feedback: { type: e.feedback.type, reporter: e.feedback.reporter, user_agent: e.feedback.userAgent, arrival_date: e.feedback.arrivalDate, matched_by: e.feedback.matchedBy } } : {}),
    ...(peer ? { peer } : {}),
  };
}
