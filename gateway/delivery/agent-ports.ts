/**
 * What the delivery agent (agent.ts) asks of the parts around it, and nothing more: the
 * ready queue a session serves and the scheduler's verdicts on its items, the source
 * picker, and shaping (warm-up, send windows, response rules, holds). Written with seam
 * types only, so the agent imports no earlier stage; the composition root
 * (node-parts.ts) adapts the real parts to these ports, and test/delivery hands the agent
 * fakes. The picker's answer (`PickResult`), a response rule's (`RuleHit`) and a send
 * window's (`SendSlot`) are defined here, where they are consumed, and the parts that
 * give them import them from here.
 *
 * `P` is the provider's limits as the queue carries them: the agent reads the few fields
 * of `SessionLimits` and hands the rest back to the picker and shaping untouched. `Q` is
 * the ready queue, handed back to the scheduler that owns it.
 */
import type { ResponseRuleConfig } from '../config/schema.js';
import type { Envelope } from '../spool/types.js';
import type { HoldTarget, Lease, RateClaim, TokenResult } from '../state/types.js';
import type { FinalState, QueueItem, Via } from '../queue/types.js';
import type { MxHost } from './mx-resolver.js';
import type { Response } from './response.js';

/** The limits a session obeys itself (shaping/providers.ts ProviderLimits is one). */
export interface SessionLimits {
  /** The throttle key: a provider name, or `site:<mx hosts>` for unmatched destinations. */
  readonly key: string;
  /** The provider name as configured ("default" when none matched). */
  readonly name: string;
  readonly maxMessagesPerConnection: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** One ready queue as a session sees it (queue/ready-queue.ts ReadyQueue is one). */
export interface ReadyQueuePort<P extends SessionLimits> {
  readonly pool: string;
  readonly site: string;
  readonly provider: P;
  readonly hosts: readonly MxHost[];
  /** Backoff after a busy (4xx) greeting; the agent doubles it while they repeat and resets it on a good connect. */
  greetingBackoffMs: number;
  /** The next item, waiting up to `ms` for one; null when none came. */
  next(ms: number): Promise<QueueItem | null>;
  /** Takes out every item waiting (they share the fate of an unreachable site). */
  drain(): QueueItem[];
}

/** A recipient's result as the agent judged it (with response rules applied). */
export interface Settled {
  readonly rcpt: string;
  readonly response: Response;
  readonly kind: 'delivered' | 'bounced' | 'deferred';
}

/** What the agent asks of the scheduler that owns queue `Q` (queue/scheduler.ts Scheduler is one). */
export interface SchedulerPort<Q> {
  /** True once the node is stopping: take nothing more. */
  readonly stopped: boolean;
  /** Bumped by a config reload: a session started under an older one ends after its current message. */
  readonly generation: number;
  /**
   * Bumped when an operator asks for mail to be tried now (flush, retry): the runner then
   * forgets which sites were unreachable, as Postfix's flush forgets dead destinations.
   */
  readonly tryNow: number;
  /**
   * No new session for `rq` before `retryMs`, or before a lease on one of `waitingFor` is
   * released; `held`: its mail waits behind a hold, and shows so in the queue views.
   */
  block(rq: Q, retryMs: number, reason: string, waitingFor?: readonly string[], held?: boolean): void;
  /** Every item of `rq` waits until `until` (warm-up caps); returns how many. */
  postpone(rq: Q, until: number, response: Response): number;
  /** An item taken but not sent goes back to the head of `rq` (or is routed again after a reload). */
  putBack(rq: Q, item: QueueItem, generation?: number): void;
  /** A message went out from `rq` (ageing, fairness). */
  served(rq: Q): void;
  /** True when a more urgent queue waits for the leases this session holds. */
  shouldYield(rq: Q, leaseKeys: readonly string[]): boolean;
  /** The session gave back its lease on `leaseKeys`: queues waiting for them may start. */
  released(leaseKeys: readonly string[]): void;
  /** Records each recipient's result: final states, retries. */
  settle(item: QueueItem, results: readonly Settled[], via: Via): void;
  /** `rcpts` wait for a retry after a local failure. */
  defer(item: QueueItem, rcpts: readonly string[], response: Response, via: Via | null): void;
  /** `rcpt` is done without an attempt (suppressed). */
  final(item: QueueItem, rcpt: string, state: FinalState, response: Response | null, via: Via | null): void;
}

/** A source as the session binds and greets with it. */
export interface SourceRef {
  readonly name: string;
  readonly ip: string | undefined;
  readonly ehlo: string;
}

export interface Grant {
  readonly source: SourceRef;
  readonly lease: Lease;
  /** The pool whose source sends: the routed pool, or its overflow pool. */
  readonly pool: string;
  /** The routed pool when `pool` is its overflow; else null. */
  readonly overflowFrom: string | null;
}

export type PickResult =
  | { readonly kind: 'granted'; readonly grant: Grant }
  /**
   * Nothing usable now; try again in `retryMs`, or as soon as a lease on one of `waitingFor`
   * is released. `held`: because the pool or every source is held (not a
   * rate or connection limit), so its mail shows as held in the queue views (issue 17).
   */
  | { readonly kind: 'wait'; readonly retryMs: number; readonly reason: string; readonly waitingFor: readonly string[]; readonly held?: true }
  /** Every source here is at today's warm-up cap and no overflow can send: nothing moves before `until` (next UTC day). */
  | { readonly kind: 'capped'; readonly until: number; readonly reason: string };

/** The source picker (routing/source-picker.ts), as the agent asks it. */
export interface SourcePort<P> {
  /** A source of `pool` (or its overflow) and a connection lease toward `provider`. */
  pick(pool: string, provider: P): Promise<PickResult>;
  /** True while mail from `source` to `provider` is held (by an operator, a response rule or the health monitor). */
  sourceHeld(source: string, provider: P): boolean;
  /** True while mail of `pool` is held. */
  poolHeld(pool: string): boolean;
  /** A granted lease lapses after this long unless renewed (the agent renews it every third). */
  readonly leaseTtlMs: number;
}

/** The lease and rate store (state/types.ts ThrottleStore), the parts the agent uses. */
export interface ThrottlePort {
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  take(claims: readonly RateClaim[]): Promise<TokenResult>;
}

/** A send admitted under every rate of its message; call done() when its reply to DATA is in (or it failed). */
export interface SendSlot {
  done(): void;
}

/** A response rule that matched a reply. */
export interface RuleHit {
  readonly action: ResponseRuleConfig['action'];
  readonly durationMs: number;
  readonly match: string;
}

/** A hold a response rule asks for (shaping/auto-holds.ts sets it and tells ops). */
export interface HoldRequest {
  /** A source toward one provider, or the provider for every source. */
  readonly target: Extract<HoldTarget, { kind: 'source-provider' | 'provider' }>;
  /** The provider's name, for people. */
  readonly provider: string;
  /** A short code, e.g. "provider_rule". */
  readonly reason: string;
  readonly detail: string;
  readonly by: string;
  readonly until: number | null;
}

/** Shaping, as the agent asks it. */
export interface ShapingPort<P> {
  /** Takes one message from `source`'s warm-up budget for today; false at the cap; rejects when the count cannot be read. */
  warmupTake(source: string): Promise<boolean>;
  /** Gives back a message taken but not sent. */
  warmupGiveBack(source: string): Promise<void>;
  /** The rate claims a message from `source` to `provider` takes (none: no rate). */
  rateClaims(source: string, provider: P): RateClaim[];
  /**
   * Waits until this node's own recent sends leave room under every claim; null when
   * `giveUp()` turns true first or the wait would end after `deadline`. Absent: no window.
   */
  admit?(claims: readonly RateClaim[], deadline: number, giveUp: () => boolean): Promise<SendSlot | null>;
  /** The first of `provider`'s response rules that matches `response`; null when none does. */
  ruleFor(provider: P, response: Response): RuleHit | null;
  /** Holds `request.target` unless it is held already. */
  hold(request: HoldRequest): void;
}

/** The VERP envelope sender for one delivery (bounce/verp.ts). */
export type ReturnPath = (envelope: Envelope, rcpts: readonly string[], source: string, pool: string) => string;
