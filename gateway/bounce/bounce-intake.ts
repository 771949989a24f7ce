/**
 * What one message mailed to the bounce domain ([bounces] domain) means: parse it
 * (bounce-parse.ts), classify each recipient it reports (classify.ts), and tie each to
 * the delivery it is about — by the VERP token it was addressed to (verp.ts), else by the
 * returned headers: our X-Sluice-FBL reference (signed, so as good as the token when it
 * names this one recipient), our Received id or the Message-ID (which anyone can copy
 * from mail we sent them: logged as ties, never acted on). Deciding is all it does; bounce-return.ts acts.
 */
import { parseBounceMessage, type ParsedMessage, type ReturnedHeaders } from './bounce-parse.js';
import { classifyParsed, type ClassifiedRecipient } from './bounce-report.js';
import type { BounceClassifier } from './classify.js';
import type { FeedbackRef } from './feedback-token.js';
import type { VerpRef, VerpTokens } from './verp.js';

/** How a reported recipient was tied to a delivery of ours. */
export type MatchedBy = 'token' | 'header' | 'received' | 'message-id' | 'none';

export interface BounceRow {
  readonly row: ClassifiedRecipient;
  /** The queue id the bounce is about ('' when nothing ties it). */
  readonly queueId: string;
  readonly matchedBy: MatchedBy;
  /** Our VERP token in the address the bounce came to (its MAC may not tie this recipient). */
  readonly token: VerpRef | null;
  /** The X-Sluice-FBL reference the returned headers carry, when it is ours. */
  readonly fbl: FeedbackRef | null;
  /** Why it is not acted on; null: a failure tied by the token or our header. */
  readonly skip: 'not-failed' | 'unverified' | 'unmatched' | 'no-recipient' | null;
}

export type BounceResult =
  | { readonly kind: 'bounce'; readonly rows: readonly BounceRow[]; readonly parsed: Extract<ParsedMessage, { kind: 'bounce' }> }
  | { readonly kind: 'feedback' }
  | { readonly kind: 'auto-reply'; readonly from: string | null; readonly subject: string | null }
  | { readonly kind: 'not-bounce'; readonly from: string | null; readonly subject: string | null };

export interface BounceIntakeDeps {
  readonly tokens: VerpTokens;
  readonly classifier: BounceClassifier;
  /** Reads an X-Sluice-FBL value ([feedback] header); null when it is not ours or [feedback] is off. */
  readonly fblRef: (value: string) => FeedbackRef | null;
}

/** The trace field ingress writes (ingress/transaction.ts): "… by host (Sluice) with ESMTP id <id>". */
const OUR_RECEIVED = /\(Sluice\) with [A-Z]+ id ([0-9A-Z]{8,40})\b/;
/** DSN actions that report no failure (RFC 3464 §2.3.3): a delay warning is not a bounce. */
const NOT_FAILED = new Set(['delayed', 'delivered', 'relayed', 'expanded']);

export class BounceIntake {
  constructor(private readonly deps: BounceIntakeDeps) {}

  /** `to`: the envelope recipients at the bounce domain (their local parts carry the token). */
  async read(raw: Buffer, to: readonly string[]): Promise<BounceResult> {
    const parsed = await parseBounceMessage(raw);
    if (parsed.kind === 'feedback') return { kind: 'feedback' };
    if (parsed.kind !== 'bounce') return parsed;
    const tokens = to.map((a) => this.deps.tokens.parse(a.slice(0, a.lastIndexOf('@')))).filter((t): t is VerpRef => t !== null);
    const fbl = this.#fbl(parsed.returned);
    const rows = classifyParsed(parsed, this.deps.classifier).map((row) => this.#tie(row, tokens, fbl, parsed.returned));
    return { kind: 'bounce', rows, parsed };
  }

  #tie(r: ClassifiedRecipient, tokens: readonly VerpRef[], fbl: FeedbackRef | null, returned: ReturnedHeaders | null): BounceRow {
    const failed = !NOT_FAILED.has(r.action ?? '') && r.reason !== 'delivered' && r.reason !== 'vacation';
    // A bounce that names no recipient still names one when our reference was for exactly one.
    const row = r.recipient === '' && fbl?.recipient ? { ...r, recipient: fbl.recipient } : r;
    const rcpt = row.recipient.toLowerCase();
    const token = tokens.find((t) => this.deps.tokens.ties(t, rcpt)) ?? null;
    const base = { row, token: token ?? tokens[0] ?? null, fbl };
    // Acted on only when a signature of ours names this recipient (or, for several, its domain).
    let tie: { queueId: string; matchedBy: MatchedBy; verified: boolean };
    if (token) tie = { queueId: token.queueId, matchedBy: 'token', verified: true };
    else if (fbl) tie = { queueId: fbl.queueId, matchedBy: 'header', verified: fbl.recipient !== null && fbl.recipient.toLowerCase() === rcpt };
    else {
      const received = returned?.received.map((v) => OUR_RECEIVED.exec(v)?.[1]).find((id) => id !== undefined);
      if (received) tie = { queueId: received, matchedBy: 'received', verified: false };
      else tie = { queueId: '', matchedBy: returned?.messageId ? 'message-id' : 'none', verified: false };
    }
    const skip = !failed ? 'not-failed' : rcpt === '' ? 'no-recipient' : tie.verified ? null : tie.matchedBy === 'none' ? 'unmatched' : 'unverified';
    return { ...base, queueId: tie.queueId, matchedBy: tie.matchedBy, skip };
  }

  #fbl(returned: ReturnedHeaders | null): FeedbackRef | null {
    for (const v of returned?.fbl ?? []) {
      const ref = this.deps.fblRef(v);
      if (ref) return ref;
    }
    return null;
  }
}
