/**
 * What one message to a feedback address means: parse it (arf.ts), tie the report to what
 * we sent (the X-Sluice-FBL reference, our Received id, Source-IP → [sources.X]), and
 * decide: a complaint to count, a duplicate, a report of another type, a report about mail
 * that is not ours, or no report at all. Deciding is all it does; the composition root
 * turns a complaint into a `complained` outcome.
 */
import { parseArf, type FeedbackReport } from './arf.js';
import { FEEDBACK_HEADER, type FeedbackRef, type FeedbackTokens } from './feedback-token.js';

export interface Complaint {
  /** The reported message's queue id; '' when the report does not say which message. */
  readonly queueId: string;
  readonly messageId: string | null;
  /** The complaining recipient; null when the provider redacted it and no reference names it. */
  readonly recipient: string | null;
  readonly mailFrom: string;
  /** '' when the report carries no X-Sluice-FBL reference. */
  readonly class: string;
  readonly pool: string | null;
  readonly source: string | null;
  readonly sourceIp: string | null;
  readonly provider: string | null;
  readonly campaign: string | null;
  readonly feedbackType: string;
  readonly reporter: string | null;
  readonly userAgent: string | null;
  readonly arrivalDate: string | null;
  /** How the report was tied to our mail. */
  readonly matchedBy: 'header' | 'received' | 'source-ip';
}

export type FeedbackResult =
  | { readonly kind: 'complaint'; readonly complaint: Complaint }
  /** The same message and recipient were reported before (a resend, or the 250 was lost). */
  | { readonly kind: 'duplicate'; readonly complaint: Complaint }
  /** A feedback type that is not a complaint ([feedback] complaint_types): logged, counted. */
  | { readonly kind: 'ignored'; readonly complaint: Complaint }
  /** Nothing in the report points at mail we sent. */
  | { readonly kind: 'uncorrelated'; readonly report: FeedbackReport }
  /**
   * Tied to our mail only by what anyone can copy (our Received id, a source's IP), from
   * a client outside [feedback] trusted_reporters: counting it would let anyone hold
   * our sources or suppress any address.
   */
  | { readonly kind: 'unverified'; readonly complaint: Complaint }
  | { readonly kind: 'not-report'; readonly subject: string | null; readonly from: string | null }
  | { readonly kind: 'malformed'; readonly reason: string; readonly from: string | null };

export interface PoolQuery {
  readonly pinned: string | null;
  readonly class: string;
  readonly source: string | null;
  readonly provider: string;
  readonly domain: string;
  readonly mailFrom: string;
}

export interface FeedbackIntakeDeps {
  readonly tokens: FeedbackTokens | null;
  readonly complaintTypes: readonly string[];
  /** Whether a client may send reports that carry no reference of ours ([feedback] trusted_reporters). */
  readonly trustedReporter: (clientAddress: string) => boolean;
  /** The [sources.X] name whose ip is `ip`, or null. */
  readonly sourceByIp: (ip: string) => string | null;
  /** The provider as shaping names it for a recipient domain (MX lookup), else for the reporter's domain. */
  readonly providerOf: (recipientDomain: string | null, reporterDomain: string | null) => Promise<string | null>;
  /** The pool the message went through, as routing decides it. */
  readonly poolOf: (q: PoolQuery) => string | null;
  /** True the first time a (message, recipient) key is reported, fleet-wide (seen-once.ts). */
  readonly seen: { first(key: string): Promise<boolean> };
}

/** The trace field ingress writes (ingress/transaction.ts): "… by host (Sluice) with ESMTP id <id>". */
const OUR_RECEIVED = /\(Sluice\) with [A-Z]+ id ([0-9A-Z]{8,40})\b/;

export class FeedbackIntake {
  constructor(private readonly deps: FeedbackIntakeDeps) {}

  async receive(raw: Buffer, clientAddress: string): Promise<FeedbackResult> {
    const parsed = await parseArf(raw);
    if (parsed.kind !== 'report') return parsed;
    const report = parsed.report;
    const complaint = await this.correlate(report);
    if (complaint === null) return { kind: 'uncorrelated', report };
    if (complaint.matchedBy !== 'header' && !this.deps.trustedReporter(clientAddress)) return { kind: 'unverified', complaint };
    if (!this.deps.complaintTypes.includes(report.feedbackType)) return { kind: 'ignored', complaint };
    if (await this.#duplicate(complaint)) return { kind: 'duplicate', complaint };
    return { kind: 'complaint', complaint };
  }

  private async correlate(report: FeedbackReport): Promise<Complaint | null> {
    const original = report.original;
    const ref = this.#reference(report);
    const receivedId = original?.getAll('received').map((r) => OUR_RECEIVED.exec(r)?.[1]).find((id) => id !== undefined) ?? null;
    const source = report.sourceIp === null ? null : this.deps.sourceByIp(report.sourceIp);
    const matchedBy = ref ? 'header' : receivedId ? 'received' : source ? 'source-ip' : null;
    if (matchedBy === null) return null;
    // The recipient: our own reference first (it is the envelope recipient we delivered
    // to), then what the provider says, then the original's To when it names one address.
    const to = original?.to ?? [];
    const recipient = ref?.recipient ?? report.originalRcptTo[0] ?? (to.length === 1 ? (to[0] ?? null) : null);
    const domain = recipient === null ? null : recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
    const reporterDomain = report.reporter === null ? null : report.reporter.slice(report.reporter.lastIndexOf('@') + 1).toLowerCase();
    const provider = await this.deps.providerOf(domain, reporterDomain);
    const klass = ref?.class ?? '';
    const mailFrom = report.originalMailFrom ?? stripAngles(original?.get('return-path') ?? null) ?? '';
    const pool = this.deps.poolOf({ pinned: ref?.pool ?? null, class: klass, source, provider: provider ?? 'default', domain: domain ?? '', mailFrom });
    return {
      queueId: ref?.queueId ?? receivedId ?? '',
      messageId: original?.get('message-id') ?? null,
      recipient: recipient?.toLowerCase() ?? null,
      mailFrom,
      class: klass,
      pool,
      source,
      sourceIp: report.sourceIp,
      provider,
      campaign: ref?.campaign ?? original?.get('x-campaign-id') ?? null,
      feedbackType: report.feedbackType,
      reporter: report.reporter,
      userAgent: report.userAgent,
      arrivalDate: report.arrivalDate,
      matchedBy,
    };
  }

  #reference(report: FeedbackReport): FeedbackRef | null {
    if (this.deps.tokens === null || report.original === null) return null;
    for (const value of report.original.getAll(FEEDBACK_HEADER)) {
      const ref = this.deps.tokens.decode(value);
      if (ref) return ref;
    }
    return null;
  }

  /**
   * One complaint per (message, recipient): a report sent again (the 250 lost, a provider
   * resending, or mailing another node of the fleet) must not count twice toward the
   * complaint rate.
   */
  async #duplicate(c: Complaint): Promise<boolean> {
    const message = c.queueId || c.messageId;
    if (!message) return false;
    return !(await this.deps.seen.first(`${message}\u0000${c.recipient ?? ''}`));
  }
}

function stripAngles(v: string | null): string | null {
  if (v === null) return null;
  return v.replace(/^\s*<|>\s*$/g, '').trim() || null;
}
