import type { Envelope, RecipientState } from '../spool/types.js';
import type { Response } from '../delivery/response.js';
import type { OutcomeEvent, OutcomeKind } from '../plugin-host/public.js';

/** One message's recipients at one domain: the unit the scheduler routes and sessions send. */
export interface QueueItem {
  readonly envelope: Envelope;
  readonly domain: string;
  rcpts: string[];
  attempts: number;
  nextAt: number;
  /** When it entered its current ready queue, for ageing. */
  readyAt: number;
  /** Its row in the live queue index (index.ts): routing keeps its pool and provider there. */
  entry: Entry;
}

/**
 * A QueueItem waiting for its next attempt, without its envelope (read back from the
 * spool when it is due): its index row, which holds what the retry and the queue gauges
 * need (id, recipients, attempts, next attempt, pool, provider). One object per waiting
 * item, not a second record beside the row: at 100 000 deferred that was 12 MB.
 * While an entry waits in the waiting queue its `nextAt` is the heap's key: only the
 * waiting queue and the code that took it out may change it.
 */
export type Parked = Entry;

export type { OutcomeKind };

export interface Outcome {
  readonly kind: OutcomeKind;
  readonly envelope: Envelope;
  readonly rcpt: string;
  readonly response: Response | null;
  readonly attempt: number;
  readonly pool: string | null;
  readonly source: string | null;
  readonly sourceIp: string | null;
  readonly provider: string | null;
  readonly mx: string | null;
  /** Set when `kind` is deferred: when the next attempt is due. */
  readonly nextAt: number | null;
  /** Set when `kind` is complained: what the feedback report said. */
  readonly feedback?: FeedbackInfo;
  /** Why, when an operator's queue action decided it ("admin"). */
  readonly reason?: string;
  /** Set on a `bounced` outcome from a bounce mailed back (bounce/bounce-intake.ts): its classification, already made. */
  readonly bounce?: MailedBounce;
  /** The sender's DSN for this recipient was committed before this outcome (an operator's bounce): none is made for it. */
  readonly dsnSent?: boolean;
}

export interface MailedBounce {
  readonly reason: string;
  readonly hard: boolean;
  /** Where it came from, for the suppression entry ("bounce from mx.example.net: 550 5.1.1 …"). */
  readonly via: string;
  /** How it was tied to the message: the VERP token or our X-Sluice-FBL header. */
  readonly matchedBy: 'token' | 'header';
  /** Whether the original sender gets a DSN of its own ([bounces] forward). */
  readonly dsn: boolean;
}

/** A complaint's report, as events and plugins see it (the `feedback` of OutcomeEvent). */
export type FeedbackInfo = NonNullable<OutcomeEvent['feedback']>;

export interface OutcomeSink {
  (outcome: Outcome): void;
}

export type FinalState = RecipientState;

/** Where an attempt went: the pool, source and MX a session used (null fields: not known). */
export interface Via {
  readonly pool: string;
  readonly source: string;
  readonly sourceIp: string | null;
  readonly provider: string;
  readonly mx: string | null;
}


/** The live queue index's states (index.ts). */
export const QUEUE_STATES = ['ready', 'deferred', 'held', 'scheduled', 'in_flight'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** What a queue selector matches on (selector.ts). */
export interface Selectable {
  readonly id: string;
  readonly domain: string;
  readonly provider: string;
  readonly campaign: string | null;
  readonly sender: string;
  readonly pool: string;
  readonly source: string | null;
  readonly cls: string;
}

/** One queue item as the index sees it. Mutable fields change only through QueueIndex.update. */
export interface Entry extends Selectable {
  readonly id: string;
  readonly domain: string;
  readonly sender: string;
  readonly campaign: string | null;
  readonly cls: string;
  readonly receivedAt: number;
  pool: string;
  provider: string;
  source: string | null;
  /** The item's recipients (the array the scheduler holds; not copied). */
  rcpts: readonly string[];
  state: QueueState;
  attempts: number;
  /** When the next attempt is due (deferred, scheduled); 0 when not known. */
  nextAt: number;
  lastReply: string | null;
}

/** Where a routed item leaves from, in a fleet (gateway/cluster/handoff.ts). */
export type Placement =
  | { readonly kind: 'here' }
  /** Passed to the live peer `node`, which holds `source` of `pool`. */
  | { readonly kind: 'peer'; readonly node: string; readonly source: string; readonly pool: string }
  /** No source of the pool here and none reachable on a peer: routed again in `retryMs`. */
  | { readonly kind: 'later'; readonly retryMs: number; readonly why: string };

/** The cluster's handoff, as the scheduler asks it (`P`: the provider's limits, passed back to the handoff's standing check). */
export interface HandoffPort<P> {
  place(item: QueueItem, pool: string, provider: P): Placement;
  /** Resolves with the recipients the peer took, once it answered 250. */
  send(item: QueueItem, to: { readonly node: string; readonly source: string; readonly pool: string }): Promise<readonly string[]>;
}

/** A recipient that bounced or expired, reported in a DSN committed before it is recorded. */
export interface DsnFailure {
  readonly rcpt: string;
  readonly state: 'bounced' | 'expired';
  /** The reply that ended it (for an expired one: the last reply, if any). */
  readonly response: Response | null;
  readonly mx: string | null;
  /** The outcome's reason, kept for recovery (`admin` for an operator's bounce). */
  readonly reason?: string;
}

/** A sender is owed a DSN unless the message is one, or has the null sender (RFC 5321 section 4.5.5). */
export function owesDsn(envelope: Envelope): boolean {
  return !envelope.isDsn && envelope.mailFrom !== '';
}
