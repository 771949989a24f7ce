/**
 * What happens after each outcome: the log line, the plugins' outcome observers, the
 * suppression of hard-bounced addresses, and DSNs to the sender for bounced and expired
 * recipients (one DSN per message per batch of outcomes).
 */
import type { DsnFor, Envelope } from '../spool/types.js';
import { owesDsn, type DsnFailure, type Outcome } from '../queue/types.js';
import type { OutcomeEvent } from '../plugin-host/public.js';
import { buildDsn, type FailedRecipient } from './dsn.js';
import { formatResponse, localResponse, type Response } from '../delivery/response.js';
import { classifyResponse } from './categories.js';
import type { BounceClassifier } from './classify.js';
import type { Logger } from '../observe/logger.js';
import type { Clock, SuppressionStore } from '../state/types.js';
import { newQueueId } from '../spool/queue-id.js';

/** Notifies the plugins' outcome observers (plugin-host/host.ts). */
export interface OutcomePlugins {
  emit(kind: Exclude<Outcome['kind'], 'expired'>, e: OutcomeEvent): void;
  names(): readonly string[];
}

/** Queues a message made here (a DSN) as if it came in over SMTP. */
export type DsnInjector = (envelope: Envelope, message: Buffer) => Promise<void>;

export interface OutcomeRouterDeps {
  readonly clock: Clock;
  /** The host named in DSNs. */
  readonly hostname: string;
  readonly log: Logger;
  readonly plugins: OutcomePlugins;
  /** Hard bounces are added here when the suppression plugin is on. */
  readonly suppression: Pick<SuppressionStore, 'add'>;
  /** The original message, quoted in a DSN (null when it cannot be read). */
  readonly readBody: (id: string) => Promise<Buffer>;
  readonly inject: DsnInjector;
  readonly observers?: readonly ((o: Outcome, e: OutcomeEvent) => void)[];
  /** Shaping wiring: health counters per (source, provider) see every outcome (shaping/health-monitor.ts). */
  readonly health?: { record(o: Outcome): void };
  /** The bounce rules ([bounces] rules in front of the shipped ones); absent: the shipped rules. */
  readonly classifier?: BounceClassifier;
}

export class OutcomeRouter {
  private readonly pendingDsn = new Map<string, { envelope: Envelope; failed: FailedRecipient[] }>();
  private flushScheduled = false;

  constructor(private readonly deps: OutcomeRouterDeps) {}

  handle(o: Outcome): void {
    const { clock, plugins } = this.deps;
    // One classification per bounce: the reason travels with the event, and a hard one suppresses.
    // A bounce mailed back (bounce-intake.ts) comes classified: its whole report was read, not only a reply line.
    const bounce = o.kind !== 'bounced' ? null : (o.bounce ?? (o.response && !o.response.local ? classifyResponse(o.response, this.deps.classifier) : null));
    const event: OutcomeEvent = { ...toEvent(o, clock.now()), ...(bounce ? { bounce: { reason: bounce.reason, hard: bounce.hard } } : {}) };
    const line = {
      event: o.kind,
      queue_id: o.envelope.id,
      message_id: o.envelope.messageId,
      rcpt: o.rcpt,
      class: o.envelope.class,
      pool: o.pool,
      source: o.source,
      source_ip: o.sourceIp,
      provider: o.provider,
      mx: o.mx,
      reply: o.response ? formatResponse(o.response) : null,
      attempt: o.attempt,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.nextAt ? { next_attempt: new Date(o.nextAt).toISOString() } : {}),
      ...(bounce ? { bounce_reason: bounce.reason, hard: bounce.hard } : {}),
      ...(o.bounce ? { matched_by: o.bounce.matchedBy, mailed_back: true } : {}),
      ...(o.feedback ? { feedback_type: o.feedback.type, reporter: o.feedback.reporter, matched_by: o.feedback.matchedBy } : {}),
    };
    if (o.kind === 'delivered') this.deps.log.info(line, 'delivered');
    else this.deps.log.warn(line, o.kind);
    if (o.kind !== 'expired') plugins.emit(o.kind, event);
    this.deps.health?.record(o);
    for (const obs of this.deps.observers ?? []) obs(o, event);
    if (o.kind === 'bounced' && o.response && bounce?.hard === true && o.response.code >= 500 && plugins.names().includes('suppression')) {
      this.deps.suppression
        .add([{ address: o.rcpt.toLowerCase(), reason: 'hard-bounce', source: o.bounce ? o.bounce.via.slice(0, 250) : `delivery ${o.envelope.id}: ${formatResponse(o.response).slice(0, 200)}`, at: clock.now() }])
        .catch((err: unknown) => this.deps.log.warn({ err, rcpt: o.rcpt }, 'could not add hard bounce to suppression'));
    }
    if ((o.kind === 'bounced' || o.kind === 'expired') && owesDsn(o.envelope) && o.bounce?.dsn !== false && o.dsnSent !== true) {
      const entry = this.pendingDsn.get(o.envelope.id) ?? { envelope: o.envelope, failed: [] };
      entry.failed.push(this.failedRecipient(o.envelope, { rcpt: o.rcpt, state: o.kind, response: o.response, mx: o.mx }));
      this.pendingDsn.set(o.envelope.id, entry);
      this.scheduleFlush();
    }
  }

  /** Recipients a plugin dropped at accept time: reported as suppressed, never queued. */
  dropped(envelope: Envelope, rcpts: readonly string[], reason: string): void {
    for (const rcpt of rcpts) {
      this.handle({ kind: 'suppressed', envelope, rcpt, response: localResponse(550, '5.7.1', reason), attempt: 0, pool: null, source: null, sourceIp: null, provider: null, mx: null, nextAt: null });
    }
  }

  /**
   * A message lost to spool damage (found at recovery): each recipient without a final
   * state is reported bounced with `response`, which sends the sender a DSN. The
   * response is local, so no recipient lands on the suppression list for it.
   */
  lost(envelope: Envelope, done: ReadonlyMap<string, string>, response: Response): void {
    for (const rcpt of envelope.rcpts) {
      if (done.has(rcpt)) continue;
      this.handle({ kind: 'bounced', envelope, rcpt, response, attempt: 0, pool: envelope.pool, source: null, sourceIp: null, provider: null, mx: null, nextAt: null });
    }
  }

  /**
   * The DSN for recipients of `original` that bounced or expired, committed to the spool
   * before they are recorded (the queue's DSN-first order, queue/scheduler.ts and
   * queue/queue-ending.ts): the DSN's envelope names them and how each ended (`dsnFor`), so
   * that recovery records them if a crash comes between the two, and sends no second DSN.
   * Resolves true once the DSN is durable, false when none is owed (a DSN, or a null
   * sender); rejects when it could not be committed (the recipients then stay as they were).
   */
  async dsnFirst(original: Envelope, ends: readonly DsnFailure[]): Promise<boolean> {
    if (!owesDsn(original) || ends.length === 0) return false;
    const body = await this.deps.readBody(original.id).catch(() => null);
    const failed = ends.map((f) => this.failedRecipient(original, f));
    const dsn = buildDsn({ original, originalMessage: body, failed, hostname: this.deps.hostname, now: new Date(this.deps.clock.now()) });
    if (!dsn) return false;
    const dsnFor: DsnFor = {
      id: original.id,
      rcpts: ends.map((f) => f.rcpt),
      ends: ends.map((f) => ({ rcpt: f.rcpt, state: f.state, reply: f.response ? { code: f.response.code, enhanced: f.response.enhanced, text: f.response.text } : null, ...(f.reason !== undefined ? { reason: f.reason } : {}) })),
    };
    const envelope = { ...this.dsnEnvelope(original), dsnFor };
    await this.deps.inject(envelope, dsn);
    this.deps.log.info({ event: 'dsn_queued', queue_id: envelope.id, original: original.id, to: original.mailFrom, recipients: ends.length }, 'DSN queued');
    return true;
  }

  /** A recipient's line in a DSN; an expired one reports the time in the queue and the last reply. */
  private failedRecipient(original: Envelope, f: DsnFailure): FailedRecipient {
    const last = f.response;
    if (f.state !== 'expired') return { rcpt: f.rcpt, response: last, action: 'failed', remoteMta: f.mx };
    const response = localResponse(last?.code && last.code >= 500 ? last.code : 550, '4.4.7', `message expired after ${queueAge(this.deps.clock.now() - original.receivedAt)} in the queue; last reply: ${last ? formatResponse(last) : 'none'}`);
    return { rcpt: f.rcpt, response, action: 'failed', remoteMta: f.mx };
  }

  /** Called before a finished message leaves the spool: its DSN goes out now. */
  async beforeRemove(envelope: Envelope): Promise<void> {
    await this.flushOne(envelope.id);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      for (const id of [...this.pendingDsn.keys()]) void this.flushOne(id);
    });
  }

  private async flushOne(id: string): Promise<void> {
    const entry = this.pendingDsn.get(id);
    if (!entry) return;
    this.pendingDsn.delete(id);
    const { clock, hostname } = this.deps;
    const original = await this.deps.readBody(id).catch(() => null);
    const dsn = buildDsn({ original: entry.envelope, originalMessage: original, failed: entry.failed, hostname, now: new Date(clock.now()) });
    if (!dsn) return;
    const envelope = this.dsnEnvelope(entry.envelope);
    const dsnId = envelope.id;
    try {
      await this.deps.inject(envelope, dsn);
      this.deps.log.info({ event: 'dsn_queued', queue_id: dsnId, original: id, to: entry.envelope.mailFrom, recipients: entry.failed.length }, 'DSN queued');
    } catch (err) {
      this.deps.log.error({ err, original: id }, 'could not queue DSN');
    }
  }

  /** A DSN's envelope: from the null sender to the original's sender (RFC 3464 §2, RFC 5321 §4.5.5). */
  private dsnEnvelope(original: Envelope): Envelope {
    const now = this.deps.clock.now();
    return {
      id: newQueueId(this.deps.clock),
      mailFrom: '',
      rcpts: [original.mailFrom],
      receivedAt: now,
      class: original.class,
      pool: null,
      priority: null,
      campaign: null,
      messageId: null,
      authUser: null,
      clientAddress: '127.0.0.1',
      routeHeaders: {},
      isDsn: true,
    };
  }
}

function toEvent(o: Outcome, at: number): OutcomeEvent {
  return {
    queueId: o.envelope.id,
    messageId: o.envelope.messageId,
    recipient: o.rcpt,
    mailFrom: o.envelope.mailFrom,
    class: o.envelope.class,
    pool: o.pool ?? '',
    source: o.source,
    provider: o.provider,
    mx: o.mx,
    reply: o.response ? formatResponse(o.response) : null,
    enhanced: o.response?.enhanced ?? null,
    attempt: o.attempt,
    at,
    ...(o.feedback ? { feedback: o.feedback } : {}),
  };
}

/** How long a message was queued, as a DSN reader wants it: "5 days", "3 h", "40 min", "12 s". */
function queueAge(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${Math.floor(ms / 86_400_000)} days`;
  if (ms >= 3_600_000) return `${Math.floor(ms / 3_600_000)} h`;
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.floor(ms / 1000)} s`;
}
