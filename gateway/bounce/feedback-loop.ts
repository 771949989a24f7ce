/**
 * Feedback-loop intake ([feedback]), wired for the composition root: the key behind
 * X-Sluice-FBL, the sink the listeners hand reports to, and what each report becomes —
 * a `complained` outcome through the same path as every other outcome (bounce/outcomes.ts: log
 * line, plugin observers such as suppression, health counters, metrics, event log,
 * webhooks), a log line and a count for everything else, and for mail that is no report
 * at all an optional forward to a person.
 */
import { loadSecret } from './secret.js';
import { FEEDBACK_TYPES, memberSource, type Config, type FeedbackConfig } from '../config/schema.js';
import { FeedbackIntake, type Complaint, type FeedbackResult, type PoolQuery } from './feedback-intake.js';
import { FEEDBACK_HEADER, FeedbackTokens, type FeedbackRef } from './feedback-token.js';
import { NetworkList } from '../config/networks.js';
import type { Outcome } from '../queue/types.js';
import type { Envelope } from '../spool/types.js';
import { newQueueId } from '../spool/queue-id.js';
import type { ClaimStore, Clock } from '../state/types.js';
import { SeenOnce } from './seen-once.js';
import type { ConnectionInfo } from '../plugin-host/public.js';
import type { Logger } from '../observe/logger.js';
import type { FeedbackResult as MetricResult } from '../observe/metrics.js';

/** A transaction to feedback addresses, as a listener hands it over. */
export interface FeedbackDelivery {
  readonly connection: ConnectionInfo;
  readonly mailFrom: string;
  /** The feedback addresses of the transaction. */
  readonly rcpts: readonly string[];
}

/** What became of mail to a feedback address; ingress turns it into the reply (ingress/replies.ts feedbackReply). */
export type FeedbackReply =
  | { readonly kind: 'received' }
  | { readonly kind: 'discarded'; readonly what: string }
  | { readonly kind: 'forwarded'; readonly queueId: string }
  | { readonly kind: 'failed' }
  /** A bounce mailed back (bounce-return.ts): what it became, for the 250's text. */
  | { readonly kind: 'accepted'; readonly what: string }
  /** Larger than the intake reads (its max_size). */
  | { readonly kind: 'too_big'; readonly max: number };

export interface FeedbackLoopDeps {
  readonly config: () => Config;
  readonly feedback: FeedbackConfig;
  readonly baseDir: string;
  readonly dataDir: string;
  readonly hostname: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** The provider shaping names for a domain (MX lookup); 'default' when none matches. */
  readonly providerOf: (domain: string) => Promise<string>;
  readonly outcome: (o: Outcome) => void;
  /** Queues a message generated here (the forward of mail that is no report). */
  readonly inject: (envelope: Envelope, message: Buffer) => Promise<void>;
  readonly count: (type: string | null, result: MetricResult) => void;
  /** The Received field for a forwarded message (ingress/transaction.ts traceField). */
  readonly trace: (from: FeedbackDelivery, queueId: string, now: number) => string;
  /** The pool routing picks for a message like the one reported (routing/router.ts). */
  readonly routedPool: (config: Config, q: PoolQuery) => string;
  /** The fleet's claim-once store: a report reaching two nodes, or one node twice, counts once. */
  readonly claims: ClaimStore;
}

/** Reports remembered for duplicate detection: this long, and this many in each node's memory. */
const DEDUP_MS = 7 * 86_400_000;
const DEDUP_SIZE = 100_000;

export class FeedbackLoop {
  readonly addresses: ReadonlySet<string>;
  readonly maxSize: number;
  private readonly intake: FeedbackIntake;
  private readonly trusted: NetworkList;

  private constructor(
    private readonly deps: FeedbackLoopDeps,
    private readonly tokens: FeedbackTokens | null,
  ) {
    this.addresses = new Set(deps.feedback.addresses.map((a) => a.toLowerCase()));
    this.maxSize = deps.feedback.max_message_size;
    this.trusted = new NetworkList(deps.feedback.trusted_reporters);
    this.intake = new FeedbackIntake({
      tokens,
      complaintTypes: deps.feedback.complaint_types,
      trustedReporter: (client) => this.trusted.contains(client),
      sourceByIp: (ip) => sourceByIp(deps.config(), ip),
      providerOf: (recipientDomain, reporterDomain) => this.providerOf(recipientDomain, reporterDomain),
      poolOf: (q) => poolOf(deps.config(), q, deps.routedPool),
      seen: new SeenOnce({ claims: deps.claims, what: 'feedback', ttlMs: DEDUP_MS, max: DEDUP_SIZE, clock: deps.clock, log: deps.log }),
    });
  }

  static async create(deps: FeedbackLoopDeps): Promise<FeedbackLoop> {
    const fb = deps.feedback;
    const tokens = fb.header ? new FeedbackTokens(await loadSecret('[feedback]', fb, deps.baseDir, deps.dataDir, 'feedback.key')) : null;
    return new FeedbackLoop(deps, tokens);
  }

  takes(address: string): boolean {
    return this.addresses.has(address.toLowerCase());
  }

  /** The reference an X-Sluice-FBL value carries, when this fleet wrote it. */
  reference(value: string): FeedbackRef | null {
    return this.tokens?.decode(value) ?? null;
  }

  /** The X-Sluice-FBL field for an accepted message (none with `header = false`). */
  stamp(envelope: Envelope): readonly (readonly [string, string])[] {
    if (this.tokens === null) return [];
    const recipient = envelope.rcpts.length === 1 ? (envelope.rcpts[0] ?? null) : null;
    return [[FEEDBACK_HEADER, this.tokens.encode({ queueId: envelope.id, class: envelope.class, pool: envelope.pool, campaign: envelope.campaign, recipient })]];
  }

  async receive(message: Buffer, from: FeedbackDelivery): Promise<FeedbackReply> {
    let result: FeedbackResult;
    try {
      result = await this.intake.receive(message, from.connection.remoteAddress);
    } catch (err) {
      // The provider retries a 4xx: a report we could not read now is not lost.
      this.deps.log.error({ err, client: from.connection.remoteAddress }, 'feedback report could not be processed');
      return { kind: 'failed' };
    }
    const base = { client: from.connection.remoteAddress, mail_from: from.mailFrom, to: from.rcpts };
    switch (result.kind) {
      case 'complaint':
        this.deps.count(typeLabel(result.complaint.feedbackType), 'complaint');
        this.deps.outcome(toOutcome(result.complaint, from, this.deps.clock.now()));
        return received;
      case 'duplicate':
      case 'ignored': {
        const c = result.complaint;
        this.deps.count(typeLabel(c.feedbackType), result.kind);
        this.deps.log.info({ event: result.kind === 'duplicate' ? 'feedback_duplicate' : 'feedback_received', ...base, ...describe(c) }, result.kind === 'duplicate' ? 'feedback report seen before: not counted again' : `feedback report of type ${c.feedbackType}: not a complaint`);
        return received;
      }
      case 'unverified': {
        const c = result.complaint;
        this.deps.count(typeLabel(c.feedbackType), 'unverified');
        this.deps.log.warn({ event: 'feedback_unverified', ...base, ...describe(c) }, `feedback report tied to our mail only by its ${c.matchedBy === 'received' ? 'Received id' : 'Source-IP'}, from a client outside [feedback] trusted_reporters: not counted`);
        return received;
      }
      case 'uncorrelated': {
        const r = result.report;
        this.deps.count(typeLabel(r.feedbackType), 'uncorrelated');
        this.deps.log.warn({ event: 'feedback_uncorrelated', ...base, feedback_type: r.feedbackType, reporter: r.reporter, source_ip: r.sourceIp, rcpt: r.originalRcptTo[0] ?? null }, 'feedback report about mail this fleet did not send (no X-Sluice-FBL, no Received of ours, Source-IP not a source): not counted');
        return received;
      }
      case 'not-report':
        this.deps.count(null, 'not_report');
        this.deps.log.info({ event: 'feedback_not_a_report', ...base, from: result.from, subject: result.subject?.slice(0, 200) ?? null }, 'mail to a feedback address that is not a feedback report');
        return this.forward(message, from, 'not a feedback report');
      case 'malformed':
        this.deps.count(null, 'malformed');
        this.deps.log.warn({ event: 'feedback_malformed', ...base, from: result.from, reason: result.reason }, `unusable feedback report: ${result.reason}`);
        return this.forward(message, from, 'unusable feedback report');
    }
  }

  /**
   * Mail that is no report (enrolment confirmations from JMRP or Yahoo CFL, a person)
   * goes to `forward_other` from the null sender, so a forged sender never gets a bounce.
   */
  private async forward(message: Buffer, from: FeedbackDelivery, what: string): Promise<FeedbackReply> {
    const to = this.deps.feedback.forward_other;
    if (to === undefined) return { kind: 'discarded', what };
    const now = this.deps.clock.now();
    const id = newQueueId(this.deps.clock);
    const envelope: Envelope = { id, mailFrom: '', rcpts: [to], receivedAt: now, class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: from.connection.remoteAddress, routeHeaders: {}, isDsn: true };
    const trace = Buffer.from(`Received: ${this.deps.trace(from, id, now)}\r\n`, 'latin1');
    try {
      await this.deps.inject(envelope, Buffer.concat([trace, message]));
    } catch (err) {
      this.deps.log.error({ err, queue_id: id }, 'could not queue the forward of a feedback-address message');
      return { kind: 'failed' };
    }
    this.deps.log.info({ event: 'feedback_forwarded', queue_id: id, to, client: from.connection.remoteAddress }, `${what}: forwarded to ${to}`);
    return { kind: 'forwarded', queueId: id };
  }

  /** The recipient domain's provider; without one, the reporter's (staff@hotmail.com → outlook). */
  private async providerOf(recipientDomain: string | null, reporterDomain: string | null): Promise<string | null> {
    if (recipientDomain) return this.deps.providerOf(recipientDomain);
    if (!reporterDomain) return null;
    const labels = reporterDomain.split('.');
    return this.deps.providerOf(labels.slice(-2).join('.'));
  }
}

const received: FeedbackReply = { kind: 'received' };

function typeLabel(type: string): string {
  return (FEEDBACK_TYPES as readonly string[]).includes(type) ? type : 'other';
}

function describe(c: Complaint) {
  return { queue_id: c.queueId || null, rcpt: c.recipient, feedback_type: c.feedbackType, reporter: c.reporter, source: c.source, provider: c.provider, matched_by: c.matchedBy };
}

function toOutcome(c: Complaint, from: FeedbackDelivery, now: number): Outcome {
  const envelope: Envelope = {
    id: c.queueId,
    mailFrom: c.mailFrom,
    rcpts: c.recipient ? [c.recipient] : [],
    receivedAt: now,
    class: c.class,
    pool: c.pool,
    priority: null,
    campaign: c.campaign,
    messageId: c.messageId,
    authUser: null,
    clientAddress: from.connection.remoteAddress,
    routeHeaders: {},
    isDsn: false,
  };
  return {
    kind: 'complained',
    envelope,
    rcpt: c.recipient ?? '',
    response: null,
    attempt: 0,
    pool: c.pool,
    source: c.source,
    sourceIp: c.sourceIp,
    provider: c.provider,
    mx: null,
    nextAt: null,
    feedback: { type: c.feedbackType, reporter: c.reporter, userAgent: c.userAgent, arrivalDate: c.arrivalDate, matchedBy: c.matchedBy },
  };
}

function sourceByIp(config: Config, ip: string): string | null {
  const want = ip.toLowerCase().replace(/^::ffff:/, '');
  for (const [name, s] of Object.entries(config.sources)) if (s.ip.toLowerCase() === want) return name;
  return null;
}

/** The pool routing picks for the message; when the reporting source is not in it, the source's own pool. */
export function poolOf(config: Config, q: PoolQuery, routedPool: FeedbackLoopDeps['routedPool']): string | null {
  if (q.pinned !== null && config.pools[q.pinned]) return q.pinned;
  if (Object.keys(config.pools).length === 0) return null;
  const routed = routedPool(config, q);
  if (q.source === null) return routed;
  const holds = (pool: string) => config.pools[pool]?.sources.some((m) => memberSource(m) === q.source) ?? false;
  if (holds(routed)) return routed;
  return Object.keys(config.pools).find(holds) ?? routed;
}
