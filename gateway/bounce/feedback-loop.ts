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
import type { FeedbackDelivery, FeedbackSink } from '../ingress/feedback.js';
import { NetworkList } from '../config/networks.js';
import { replies, type SmtpReply } from '../ingress/replies.js';
import { traceField } from '../ingress/transaction.js';
import type { Outcome } from '../queue/types.js';
import { Router } from '../routing/router.js';
import type { Envelope } from '../spool/types.js';
import { newQueueId } from '../spool/queue-id.js';
import type { Clock } from '../state/types.js';
import type { Logger } from '../observe/logger.js';
import type { FeedbackResult as MetricResult } from '../observe/metrics.js';

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
}

export class FeedbackLoop implements FeedbackSink {
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
      poolOf: (q) => poolOf(deps.config(), q),
      clock: deps.clock,
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

  async receive(message: Buffer, from: FeedbackDelivery): Promise<SmtpReply> {
    let result: FeedbackResult;
    try {
      result = await this.intake.receive(message, from.connection.remoteAddress);
    } catch (err) {
      // The provider retries a 4xx: a report we could not read now is not lost.
      this.deps.log.error({ err, client: from.connection.remoteAddress }, 'feedback report could not be processed');
      return replies.localError;
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
  private async forward(message: Buffer, from: FeedbackDelivery, what: string): Promise<SmtpReply> {
    const to = this.deps.feedback.forward_other;
    if (to === undefined) return { code: 250, enhanced: '2.0.0', text: `Ok: ${what}, discarded` };
    const now = this.deps.clock.now();
    const id = newQueueId(this.deps.clock);
    const envelope: Envelope = { id, mailFrom: '', rcpts: [to], receivedAt: now, class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: from.connection.remoteAddress, routeHeaders: {}, isDsn: true };
    const trace = Buffer.from(`Received: ${traceField(from.connection, this.deps.hostname, id, from.rcpts, now)}\r\n`, 'latin1');
    try {
      await this.deps.inject(envelope, Buffer.concat([trace, message]));
    } catch (err) {
      this.deps.log.error({ err, queue_id: id }, 'could not queue the forward of a feedback-address message');
      return replies.localError;
    }
    this.deps.log.info({ event: 'feedback_forwarded', queue_id: id, to, client: from.connection.remoteAddress }, `${what}: forwarded to ${to}`);
    return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${id}` };
  }

  /** The recipient domain's provider; without one, the reporter's (staff@hotmail.com → outlook). */
  private async providerOf(recipientDomain: string | null, reporterDomain: string | null): Promise<string | null> {
    if (recipientDomain) return this.deps.providerOf(recipientDomain);
    if (!reporterDomain) return null;
    const labels = reporterDomain.split('.');
    return this.deps.providerOf(labels.slice(-2).join('.'));
  }
}

const received: SmtpReply = { code: 250, enhanced: '2.0.0', text: 'Ok: feedback report received' };

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
export function poolOf(config: Config, q: PoolQuery): string | null {
  if (q.pinned !== null && config.pools[q.pinned]) return q.pinned;
  if (Object.keys(config.pools).length === 0) return null;
  const routed = new Router(config).decide({ envelope: { class: q.class, mailFrom: q.mailFrom, authUser: null, routeHeaders: {}, pool: null, priority: null }, domain: q.domain, provider: q.provider }).pool;
  if (q.source === null) return routed;
  const holds = (pool: string) => config.pools[pool]?.sources.some((m) => memberSource(m) === q.source) ?? false;
  if (holds(routed)) return routed;
  return Object.keys(config.pools).find(holds) ?? routed;
}
