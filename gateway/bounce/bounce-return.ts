/**
 * The bounce domain's intake ([bounces] domain), wired for the composition root: the sink
 * relay listeners hand mail for the domain to (any client may reach it; nothing there is
 * ever relayed), and what each bounce becomes. A failure tied to a delivery of ours by
 * the VERP token or our X-Sluice-FBL header becomes a `bounced` outcome on the one
 * outcome path (bounce/outcomes.ts: log line, plugin observers, health windows per source
 * and provider, metrics, event log, webhooks, suppression of a hard bounce, and with
 * [bounces] forward a DSN to the original sender); everything else is logged and
 * answered 250, so the reporting MTA does not retry it. Feedback reports mailed to the
 * domain go to the [feedback] intake when there is one.
 */
import type { Config } from '../config/schema.js';
import type { Response } from '../delivery/response.js';
import { formatResponse } from '../delivery/response.js';
import type { Envelope } from '../spool/types.js';
import type { ClaimStore, Clock } from '../state/types.js';
import type { Logger } from '../observe/logger.js';
import { BounceIntake, type BounceRow } from './bounce-intake.js';
import type { ParsedMessage } from './bounce-parse.js';
import type { BounceClassifier } from './classify.js';
import type { FeedbackRef } from './feedback-token.js';
import { BOUNCE_WINDOW_MS } from './sender-log.js';
import { SeenOnce } from './seen-once.js';
import { nameOf, type VerpRef, type VerpTokens } from './verp.js';
import { poolOf, type FeedbackLoopDeps, type FeedbackReply } from './feedback-loop.js';

/*
 * The listener's intake port (ingress/feedback.ts) and the queue's Outcome record, as
 * this module sees them: bounce/ sits after ingress and the queue on the message's path,
 * so it names the shapes it needs instead of importing theirs (the composition root
 * checks they fit).
 */
/** What became of a message at the intake; ingress/replies.ts feedbackReply makes the SMTP reply. */
export type IntakeReply = FeedbackReply;

export interface IntakeDelivery {
  readonly connection: { readonly remoteAddress: string };
  readonly mailFrom: string;
  readonly rcpts: readonly string[];
}

export interface IntakeSink {
  takes(address: string): boolean;
  readonly maxSize: number;
  receive(message: Buffer, from: IntakeDelivery): Promise<IntakeReply>;
}

/** A `bounced` outcome (queue/types.ts Outcome) made from a bounce mailed back. */
export interface BouncedOutcome {
  readonly kind: 'bounced';
  readonly envelope: Envelope;
  readonly rcpt: string;
  readonly response: Response;
  readonly attempt: number;
  readonly pool: string | null;
  readonly source: string | null;
  readonly sourceIp: string | null;
  readonly provider: string | null;
  readonly mx: string | null;
  readonly nextAt: null;
  readonly bounce: { readonly reason: string; readonly hard: boolean; readonly via: string; readonly matchedBy: 'token' | 'header'; readonly dsn: boolean };
}

const localError: IntakeReply = { kind: 'failed' };

export interface BounceReturnDeps {
  readonly tokens: VerpTokens;
  readonly classifier: BounceClassifier;
  readonly config: () => Config;
  /** [bounces] forward: the original sender gets a DSN of its own. */
  readonly forward: boolean;
  /** [bounces] forward: the original envelope sender by queue id (bounce/sender-log.ts); null when forward is off. */
  readonly senders: { lookup(queueId: string): Promise<string | null> } | null;
  /** The [feedback] intake: ARF reports mailed to the bounce domain, X-Sluice-FBL references. */
  /** The pool routing picks for a message our header describes (the composition root gives routing's answer). */
  readonly routedPool: FeedbackLoopDeps['routedPool'];
  readonly feedback: (IntakeSink & { reference(value: string): FeedbackRef | null }) | null;
  /** The provider shaping names for a domain (MX lookup); 'default' when none matches. */
  readonly providerOf: (domain: string) => Promise<string>;
  readonly outcome: (o: BouncedOutcome) => void;
  /** Counts what each recipient or message became (sluice_bounces_received_total{result}). */
  readonly count: (result: 'bounced' | 'duplicate' | 'unmatched' | 'unverified' | 'not_failed' | 'no_recipient' | 'auto_reply' | 'not_bounce' | 'feedback') => void;
  /** The fleet's claim-once store: a bounce reaching two nodes, or one node twice, counts once. */
  readonly claims: ClaimStore;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Bounces are small; one that quotes a big message whole is still read up to this. */
const MAX_BOUNCE = 10 * 1024 * 1024;
const DEDUP_SIZE = 100_000;
const DEDUP_MS = BOUNCE_WINDOW_MS;

type Bounce = Extract<ParsedMessage, { kind: 'bounce' }>;

export class BounceReturn implements IntakeSink {
  readonly maxSize: number;
  readonly #intake: BounceIntake;
  readonly #domain: string;
  readonly #seen: SeenOnce;

  constructor(private readonly deps: BounceReturnDeps) {
    this.#domain = deps.tokens.domain.toLowerCase();
    this.maxSize = Math.max(MAX_BOUNCE, deps.feedback?.maxSize ?? 0);
    this.#seen = new SeenOnce({ claims: deps.claims, what: 'bounce', ttlMs: DEDUP_MS, max: DEDUP_SIZE, clock: deps.clock, log: deps.log });
    this.#intake = new BounceIntake({ tokens: deps.tokens, classifier: deps.classifier, fblRef: (v) => deps.feedback?.reference(v) ?? null });
  }

  /** Any address at the bounce domain (its postmaster aside: RFC 5321 §4.5.1), and the feedback addresses. */
  takes(address: string): boolean {
    const a = address.toLowerCase();
    const at = a.lastIndexOf('@');
    if (at > 0 && a.slice(at + 1) === this.#domain && a.slice(0, at) !== 'postmaster') return true;
    return this.deps.feedback?.takes(address) ?? false;
  }

  async receive(message: Buffer, from: IntakeDelivery): Promise<IntakeReply> {
    const fb = this.deps.feedback;
    const ours = from.rcpts.filter((r) => !(fb?.takes(r) ?? false));
    if (ours.length < from.rcpts.length) return this.#toFeedback(message, from);
    const client = from.connection.remoteAddress;
    let result;
    try {
      result = await this.#intake.read(message, ours);
    } catch (err) {
      // The reporting MTA retries a 4xx: a bounce we could not read now is not lost.
      this.deps.log.error({ err, client }, 'bounce could not be processed');
      return localError;
    }
    const base = { client, mail_from: from.mailFrom, to: from.rcpts };
    switch (result.kind) {
      case 'feedback':
        this.deps.count('feedback');
        if (fb) return this.#toFeedback(message, from);
        this.deps.log.info({ event: 'bounce_not_a_bounce', ...base, kind: 'feedback' }, 'feedback report mailed to the bounce domain: no [feedback] section reads it');
        return ok('feedback report, not read here');
      case 'auto-reply':
        this.deps.count('auto_reply');
        // RFC 3834: an auto-reply says nothing about the address.
        this.deps.log.info({ event: 'bounce_auto_reply', ...base, from: result.from, subject: result.subject?.slice(0, 200) ?? null }, 'auto-reply to a VERP address: not a bounce');
        return ok('auto-reply, not a bounce');
      case 'not-bounce':
        this.deps.count('not_bounce');
        this.deps.log.info({ event: 'bounce_not_a_bounce', ...base, from: result.from, subject: result.subject?.slice(0, 200) ?? null }, 'mail to the bounce domain that is no bounce: discarded');
        return ok('not a bounce, discarded');
      case 'bounce':
        for (const row of result.rows) await this.#act(row, result.parsed, base);
        return ok('bounce received');
    }
  }

  #toFeedback(message: Buffer, from: IntakeDelivery): Promise<IntakeReply> | IntakeReply {
    const fb = this.deps.feedback;
    if (fb === null) return localError;
    if (message.length > fb.maxSize) return { kind: 'too_big', max: fb.maxSize };
    return fb.receive(message, from);
  }

  async #act(row: BounceRow, parsed: Bounce, base: object): Promise<void> {
    const r = row.row;
    const fields = { ...base, queue_id: row.queueId || null, message_id: parsed.returned?.messageId ?? null, rcpt: r.recipient || null, reason: r.reason, hard: r.hard, status: r.status, action: r.action, reporting_mta: parsed.reportingMta, matched_by: row.matchedBy, ...(row.token && row.matchedBy !== 'token' ? { token_queue_id: row.token.queueId } : {}) };
    if (row.skip !== null) {
      const why = { 'not-failed': `it reports no failure (action ${r.action ?? r.reason})`, unverified: row.matchedBy === 'header' ? `our X-Sluice-FBL ties it to ${row.queueId}, a message with several recipients: only the bounce says this one failed` : row.matchedBy === 'received' ? `it is tied to ${row.queueId} only by our Received id, which anyone can copy` : 'it is tied only by a Message-ID, which anyone can copy', unmatched: row.token ? 'its VERP token does not match this recipient (forged, or the address was forwarded)' : 'nothing ties it to mail this fleet sent', 'no-recipient': 'it names no recipient' }[row.skip];
      this.deps.count(row.skip === 'not-failed' ? 'not_failed' : row.skip === 'no-recipient' ? 'no_recipient' : row.skip);
      this.deps.log.warn({ ...fields, event: row.skip === 'not-failed' ? 'bounce_not_failed' : 'bounce_unmatched', skipped: row.skip }, `bounce not acted on: ${why}`);
      return;
    }
    // One outcome per (message, recipient), fleet-wide: a bounce sent again, or to another node, must not count twice.
    if (!(await this.#seen.first(`${row.queueId.toUpperCase()}\u0000${r.recipient.toLowerCase()}`))) {
      this.deps.count('duplicate');
      this.deps.log.info({ ...fields, event: 'bounce_duplicate' }, 'bounce seen before: not counted again');
      return;
    }
    const o = await this.#outcome(row, parsed);
    this.deps.log.info({ ...fields, event: 'bounce_received', source: o.source, pool: o.pool, provider: o.provider, dsn: o.bounce?.dsn ?? false }, `bounce for ${r.recipient}: ${r.reason}${r.hard ? ' (hard)' : ''}`);
    if (this.deps.forward && o.bounce?.dsn === false) this.deps.log.warn({ ...fields, event: 'bounce_not_forwarded' }, 'no DSN to the original sender: neither the shared state nor the bounce gives a sender the VERP token vouches for');
    this.deps.count('bounced');
    this.deps.outcome(o);
  }

  async #outcome(row: BounceRow, parsed: Bounce): Promise<BouncedOutcome> {
    const r = row.row;
    const config = this.deps.config();
    const rcpt = r.recipient.toLowerCase();
    const token = row.matchedBy === 'token' ? row.token : null;
    const sender = token ? await this.#sender(token, row.queueId, parsed) : null;
    const code = r.replyCode !== null && r.replyCode >= 400 ? r.replyCode : r.status?.startsWith('4') ? 450 : 550;
    const response: Response = { code, enhanced: r.status, text: r.diagnostic.replace(/^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3}\s+)?/, '').slice(0, 1000) || 'bounce mailed back', command: null, local: false };
    const source = token ? nameOf(token.sourceHash, Object.keys(config.sources)) : null;
    const provider = await this.deps.providerOf(rcpt.slice(rcpt.lastIndexOf('@') + 1));
    // Without the token: the pool routing gives the message our header describes (as for complaints).
    const pool = token ? nameOf(token.poolHash, Object.keys(config.pools)) : poolOf(config, { pinned: row.fbl?.pool ?? null, class: row.fbl?.class ?? '', source: null, provider, domain: rcpt.slice(rcpt.lastIndexOf('@') + 1), mailFrom: '' }, this.deps.routedPool);
    const envelope: Envelope = {
      id: row.queueId,
      mailFrom: sender ?? '',
      rcpts: [rcpt],
      receivedAt: this.deps.clock.now(),
      class: row.fbl?.class ?? '',
      pool,
      priority: null,
      campaign: row.fbl?.campaign ?? null,
      messageId: parsed.returned?.messageId ?? null,
      authUser: null,
      clientAddress: '',
      routeHeaders: {},
      isDsn: false,
    };
    const via = `bounce from ${r.remoteMta ?? parsed.reportingMta ?? 'unknown MTA'} for ${row.queueId}: ${formatResponse(response)}`;
    return {
      kind: 'bounced',
      envelope,
      rcpt,
      response,
      attempt: 0,
      pool,
      source,
      sourceIp: source === null ? null : (config.sources[source]?.ip ?? null),
      provider,
      mx: r.remoteMta,
      nextAt: null,
      bounce: { reason: r.reason, hard: r.hard, via, matchedBy: token ? 'token' : 'header', dsn: this.deps.forward && sender !== null },
    };
  }

  /**
   * The original envelope sender: the one kept when the message left (sender-log.ts),
   * else the returned headers' From or Return-Path. Only one the token's sender MAC
   * vouches for counts (no backscatter to a forged address, nor to a store entry the
   * token does not match).
   */
  async #sender(token: VerpRef, queueId: string, parsed: Bounce): Promise<string | null> {
    let kept: string | null = null;
    if (this.deps.senders) {
      try {
        kept = await this.deps.senders.lookup(queueId);
      } catch (err) {
        this.deps.log.warn({ err, queue_id: queueId }, 'original sender not readable from the shared state: trying the returned headers');
      }
    }
    for (const candidate of [kept, parsed.returned?.from ?? null]) if (candidate && this.deps.tokens.senderIs(token, candidate)) return candidate;
    return null;
  }
}

function ok(what: string): IntakeReply {
  return { kind: 'accepted', what };
}
