/**
 * The shared-state seam (DESIGN.md "State: one interface, two backends").
 * Everything that several nodes must agree on goes through these interfaces; the
 * composition root picks `embedded` or `redis`, nothing else knows which one runs.
 * Every method may reject with a StateUnavailableError when the backend cannot answer
 * (Redis down or slow); callers degrade, they never hang.
 */

export type SuppressionReason = 'unsubscribe' | 'hard-bounce' | 'complaint' | 'manual';

export interface SuppressionEntry {
  /** A lower-cased address (`user@example.com`) or a whole domain (`@example.com`). */
  readonly address: string;
  readonly reason: SuppressionReason;
  /** Who added it: "cli", "admin-api", "delivery", a plugin name… */
  readonly source: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

export interface SuppressionStore {
  /** Adds or replaces entries; resolves to how many were new. */
  add(entries: readonly SuppressionEntry[]): Promise<number>;
  /** Removes addresses or `@domain` entries; resolves to how many existed. */
  remove(addresses: readonly string[]): Promise<number>;
  /** The entry that suppresses `address`: the address itself first, then its domain. */
  check(address: string): Promise<SuppressionEntry | null>;
  /** Every entry, in no promised order, in pages. */
  list(): AsyncIterable<SuppressionEntry>;
  count(): Promise<number>;
}

/** One counter a lease is taken against: `limit` concurrent holders of `key`. */
export interface LeaseClaim {
  readonly key: string;
  readonly limit: number;
}

export interface Lease {
  readonly id: string;
  readonly keys: readonly string[];
}

/**
 * A rate as the config writes it: at most `count` per `periodMs` in any window of that
 * length; `burst` (1..count) tokens may go back to back, absent: a small timing slack
 * (see gcra-params.ts for the trade-off).
 */
export interface Rate {
  readonly count: number;
  readonly periodMs: number;
  readonly burst?: number;
}

export interface RateClaim {
  readonly key: string;
  readonly rate: Rate;
}

export type TokenResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

export interface ThrottleStore {
  /**
   * Takes one lease on every claim or on none (all-or-nothing, atomic). A lease lapses
   * `ttlMs` after it was taken or last renewed, so a dead node's leases free themselves.
   */
  acquire(claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null>;
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  /** Current holders of a lease key (for status and metrics). */
  leaseCount(key: string): Promise<number>;
  /**
   * Takes one token from every bucket or from none (GCRA). No window of one period ever
   * holds more than `count` grants for a key. Time comes from the backend (Redis TIME),
   * not from the caller.
   */
  take(claims: readonly RateClaim[]): Promise<TokenResult>;
}

export interface WarmupStore {
  /** Takes one message from `source`'s budget for `day` (UTC `YYYY-MM-DD`) when used < cap. */
  take(source: string, day: string, cap: number): Promise<boolean>;
  /** Gives one back (the message did not leave after all). */
  giveBack(source: string, day: string): Promise<void>;
  used(source: string, day: string): Promise<number>;
}

export type HealthOutcome = 'delivered' | 'deferred' | 'bounced' | 'complained';

export interface HealthCounts {
  readonly delivered: number;
  readonly deferred: number;
  readonly bounced: number;
  readonly complained: number;
}

export interface HealthStore {
  /** Counts one outcome for (source, provider) in the rolling window. */
  record(source: string, provider: string, outcome: HealthOutcome): Promise<void>;
  /** Sums over the last `windowMs`. */
  counts(source: string, provider: string, windowMs: number): Promise<HealthCounts>;
}

/** A hold (README "Words"): `scope` is e.g. `source:tx1`, `pool:promo`, `source-provider:tx1:gmail`, `provider:gmail`. */
export interface Hold {
  readonly scope: string;
  readonly reason: string;
  /** Milliseconds since the epoch; null: until lifted. */
  readonly until: number | null;
  readonly by: string;
}

/** What a hold stops; its scope string is built and parsed in shaping/keys.ts only. */
export type HoldTarget =
  | { readonly kind: 'source'; readonly source: string }
  | { readonly kind: 'pool'; readonly pool: string }
  | { readonly kind: 'source-provider'; readonly source: string; readonly provider: string }
  | { readonly kind: 'provider'; readonly provider: string };

/** A hold in force with what it stops, as admin control reads it. */
export interface TargetedHold {
  readonly target: HoldTarget;
  readonly hold: Hold;
}

/** Holds by target (shaping/keys.ts `holdsByTarget` over the hold cache): what admin control acts through. */
export interface HoldsByTarget {
  held(target: HoldTarget): Hold | null;
  set(target: HoldTarget, hold: Omit<Hold, 'scope'>): Promise<void>;
  lift(target: HoldTarget): Promise<boolean>;
  all(): readonly TargetedHold[];
}

export interface HoldStore {
  set(hold: Hold): Promise<void>;
  lift(scope: string): Promise<boolean>;
  /** Holds in force now (expired ones are not returned). */
  all(): Promise<readonly Hold[]>;
}

export interface NodeInfo {
  readonly id: string;
  readonly address: string;
  readonly startedAt: number;
  readonly version: string;
  /** Refusing new mail (a maintenance drain or a stop); absent on nodes that do not say. */
  readonly draining?: boolean | undefined;
  /** host:port of its cluster listener (`[cluster] advertise`), where peers hand it mail; absent: none. */
  readonly cluster?: string | undefined;
  /**
   * What the node publishes for the fleet's dashboard with each heartbeat (its recent
   * outcome stats and queue summary), as plain JSON; absent on nodes that publish none.
   */
  readonly board?: unknown;
  /** What an operator watches to decide where load goes (cluster/node-load.ts); absent on nodes that publish none. */
  readonly load?: NodeLoad | undefined;
  /**
   * `[cluster] config = "redis"`: the config version it runs (0: none applied, it runs its own
   * file's sections). Absent on a node in "file" mode and on peers of a release that did not say.
   */
  readonly configVersion?: number | undefined;
  /** The newest config version refused on it, newer than the one it runs; absent when none is. */
  readonly configFailed?: number | undefined;
}

/** A node's load as its heartbeat carries it. CPU and lag cover the time since its previous beat. */
export interface NodeLoad {
  readonly v: 1;
  /** Process CPU, in cores (1 = one core busy all the time). */
  readonly cpu: number;
  /** Resident memory of the process, bytes. */
  readonly memory_bytes: number;
  /** 99th percentile of the event-loop delay, ms. */
  readonly loop_lag_ms: number;
  /** Free bytes on the disk of data_dir (less what is being written); null before the first measure. */
  readonly disk_free_bytes: number | null;
  /** SMTP sessions open on the node's listeners. */
  readonly connections_in: number;
  /** Delivery sessions open from the node's sources. */
  readonly connections_out: number;
  /** Messages queued on the node. */
  readonly queue_depth: number;
  /** Recipients delivered per second over the last minute. */
  readonly send_rate: number;
}

export interface NodeRegistry {
  heartbeat(info: NodeInfo, ttlMs: number): Promise<void>;
  /** Nodes whose last heartbeat is younger than their ttl. */
  live(): Promise<readonly NodeInfo[]>;
  leave(id: string): Promise<void>;
  /**
   * A node's entry counts for cluster-fair weights (cluster/pool-shares.ts), published a few
   * times a second, apart from the heartbeat: the weights must follow a burst shorter than
   * two heartbeats. Opaque here; the reader checks the shape.
   */
  publishShares(id: string, shares: unknown): Promise<void>;
  /** Every node's last published counts, by id (a node that left is in it until `leave`). */
  shares(): Promise<ReadonlyMap<string, unknown>>;
}

/**
 * One failure counter an attempt is charged to: a client IP, an account name, an
 * admin client. At most `limit` attempts per `windowMs` may fail; the next one is
 * refused and locks the key for `lockoutMs`.
 */
export interface FailureClaim {
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
}

export type AttemptResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/**
 * Guessing limits (AUTH passwords, admin tokens), shared by the fleet. An attempt is
 * charged BEFORE its credentials are checked, so parallel sessions cannot overshoot
 * the limit between a check and a count; a right guess gives back only its own charge.
 */
export interface FailureLimitStore {
  /**
   * Charges one attempt to every claim, or to none when any key is locked or has no
   * attempts left in its window (that key is then locked for its lockoutMs). Atomic.
   */
  attempt(claims: readonly FailureClaim[]): Promise<AttemptResult>;
  /** Gives back one charge per key, for an attempt that turned out right. */
  refund(keys: readonly string[]): Promise<void>;
}

/** A message's original envelope sender, kept for the bounces mailed back to its VERP address. */
export interface SenderEntry {
  /** The queue id, as the VERP token names it (upper case). */
  readonly queueId: string;
  /** The envelope sender the message came with (never the null sender). */
  readonly sender: string;
}

/**
 * Queue id -> original envelope sender ([bounces] forward), so that whichever node a
 * bounce reaches can send that sender a DSN of its own long after the message left the
 * spool. Written only with [bounces] forward, in batches; entries lapse after `ttlMs`.
 * A reader trusts an entry only as far as the VERP token's sender MAC vouches for it.
 */
export interface SenderStore {
  /** Adds or replaces entries, each kept for `ttlMs` from now. */
  record(entries: readonly SenderEntry[], ttlMs: number): Promise<void>;
  /** The sender recorded for `queueId`; null when none was or it lapsed. */
  get(queueId: string): Promise<string | null>;
}

/**
 * Claim once: the first claim of a key within its TTL, fleet-wide, gets true; every later
 * claim of it gets false until the TTL is over. For what must happen once however many
 * nodes see its trigger, and however often: a bounce or a complaint a provider mails to
 * two MX hosts of the fleet, or again after a restart, counts once.
 */
export interface ClaimStore {
  /** True when this call is the first to claim `key` in the last `ttlMs`. */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

export interface StateBackend {
  readonly kind: 'embedded' | 'redis';
  readonly suppression: SuppressionStore;
  readonly throttle: ThrottleStore;
  readonly warmup: WarmupStore;
  readonly health: HealthStore;
  readonly holds: HoldStore;
  readonly nodes: NodeRegistry;
  readonly failures: FailureLimitStore;
  readonly senders: SenderStore;
  readonly claims: ClaimStore;
  /** True while the backend answers; the redis backend flips this on errors and timeouts. */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
