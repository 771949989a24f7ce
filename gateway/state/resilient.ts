import { randomUUID } from 'node:crypto';
import { SluiceError } from '../errors.js';
import { EmbeddedFailures } from './embedded/failure-store.js';
import { FleetSize } from './fallback/fleet-size.js';
import { seriesName } from './embedded/health-store.js';
import { HealthWindows } from './embedded/health-windows.js';
import { holdInForce } from './embedded/hold-store.js';
import { WarmupShare } from './fallback/warmup-share.js';
import { FallbackMode } from './fallback/mode.js';
import { FallbackThrottle } from './fallback/throttle.js';
import type { RedisState } from './redis/redis-state.js';
import type {
  AttemptResult,
  ClaimStore,
  Clock,
  FailureClaim,
  FailureLimitStore,
  HealthCounts,
  HealthOutcome,
  HealthStore,
  Hold,
  HoldStore,
  NodeInfo,
  NodeRegistry,
  SenderStore,
  StateBackend,
  SuppressionEntry,
  SuppressionStore,
  WarmupStore,
} from './types.js';

export interface ResilientStateOptions {
  readonly shared: RedisState;
  /** fleet.json (the fleet size last seen) lives here. */
  readonly dataDir: string;
  readonly clock: Clock;
  /** Fleet size assumed until the registry has answered once; default 1. */
  readonly nodeCountHint?: number;
  readonly newId?: () => string;
}

/**
 * The state of a cluster node (DESIGN.md "State", last paragraph): Redis while it
 * answers; while it does not, the node keeps delivering within its own share of every
 * shared limit (shared limit / live nodes last seen, see fallback/fleet-share.ts),
 * never delivers to an address it cannot check (suppression rejects), reports
 * degraded(), and returns to the shared limits as soon as Redis answers again.
 */
export class ResilientState implements StateBackend {
  readonly kind = 'redis' as const;
  readonly suppression: SuppressionStore;
  readonly throttle: FallbackThrottle;
  readonly warmup: WarmupStore;
  readonly health: HealthStore;
  readonly holds: HoldStore;
  readonly nodes: NodeRegistry;
  readonly failures: FailureLimitStore;
  /** No local fallback: while Redis is away a write fails and bounce/sender-log.ts keeps the batch for the next try. */
  readonly senders: SenderStore;
  /**
   * No local fallback either: a per-node claim would answer "first" for what another node
   * claimed, and only the caller knows whether that is the safe side. While Redis is away
   * a claim rejects at once (bounce/seen-once.ts then checks in the node's memory).
   */
  readonly claims: ClaimStore;
  readonly #shared: RedisState;
  readonly #fleet: FleetSize;
  readonly #mode: FallbackMode;

  constructor(options: ResilientStateOptions) {
    const { shared, clock } = options;
    const newId = options.newId ?? randomUUID;
    this.#shared = shared;
    this.#fleet = new FleetSize(options.dataDir, options.nodeCountHint ?? 1);
    this.#mode = new FallbackMode(shared, this.#fleet, clock);
    this.suppression = new CheckedSuppression(shared.suppression, this.#mode);
    this.throttle = new FallbackThrottle(shared.throttle, this.#mode, clock);
    this.warmup = new FallbackWarmup(shared, this.#mode, clock, newId);
    this.health = new FallbackHealth(shared.health, this.#mode, clock);
    this.holds = new CachedHolds(shared.holds, this.#mode, clock);
    this.nodes = new CachedNodes(shared.nodes, this.#mode, this.#fleet);
    this.failures = new FallbackFailures(shared.failures, this.#mode, clock);
    this.senders = shared.senders;
    this.claims = { claim: (key, ttlMs) => this.#mode.sharedOnly('claim', () => shared.claims.claim(key, ttlMs)) };
  }

  /** Reads the fleet size saved by an earlier run (so a restart during an outage still divides). */
  async open(): Promise<void> {
    await this.#fleet.load();
  }

  healthy(): boolean {
    return this.#shared.healthy();
  }

  /** True while limits are local shares and suppression checks are refused. */
  degraded(): boolean {
    return this.#mode.degraded();
  }

  /** Live nodes the local shares divide by (for status and logs). */
  fleetSize(): number {
    return this.#fleet.get();
  }

  async close(): Promise<void> {
    await this.#shared.close();
    await this.#fleet.idle();
  }
}

/** Suppression has no local fallback: an address that cannot be checked is not delivered to. */
class CheckedSuppression implements SuppressionStore {
  readonly #shared: SuppressionStore;
  readonly #mode: FallbackMode;

  constructor(shared: SuppressionStore, mode: FallbackMode) {
    this.#shared = shared;
    this.#mode = mode;
  }

  add(entries: readonly SuppressionEntry[]): Promise<number> {
    return this.#mode.sharedOnly('suppression add', () => this.#shared.add(entries));
  }

  remove(addresses: readonly string[]): Promise<number> {
    return this.#mode.sharedOnly('suppression remove', () => this.#shared.remove(addresses));
  }

  check(address: string): Promise<SuppressionEntry | null> {
    return this.#mode.sharedOnly('suppression check', () => this.#shared.check(address));
  }

  async *list(): AsyncIterable<SuppressionEntry> {
    await this.#mode.sharedOnly('suppression list', async () => undefined);
    yield* this.#shared.list();
  }

  count(): Promise<number> {
    return this.#mode.sharedOnly('suppression count', () => this.#shared.count());
  }
}

/**
 * Warm-up: while Redis is away, a share of what was left of the day's budget
 * (fallback/warmup-share.ts); the messages counted meanwhile are added to the shared
 * counter before the next shared take, so the fleet's daily total stays whole.
 */
class FallbackWarmup implements WarmupStore {
  readonly #shared: RedisState;
  readonly #mode: FallbackMode;
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #share = new WarmupShare();

  constructor(shared: RedisState, mode: FallbackMode, clock: Clock, newId: () => string) {
    this.#shared = shared;
    this.#mode = mode;
    this.#clock = clock;
    this.#newId = newId;
  }

  take(source: string, day: string, cap: number): Promise<boolean> {
    const opId = this.#newId();
    return this.#mode.attempt(
      async () => {
        await this.#flush();
        const { ok, used } = await this.#shared.warmup.takeCounted(source, day, cap, opId);
        this.#share.seen(source, day, used, this.#clock.now());
        return ok;
      },
      () => this.#share.take(source, day, cap, this.#mode.nodes()),
    );
  }

  async giveBack(source: string, day: string): Promise<void> {
    if (this.#share.giveBack(source, day)) return;
    // A shared one that cannot be given back now stays counted: the safe side.
    await this.#mode.attempt(
      () => this.#shared.warmup.giveBack(source, day),
      () => undefined,
    );
  }

  used(source: string, day: string): Promise<number> {
    return this.#mode.attempt(
      async () => {
        await this.#flush();
        const used = await this.#shared.warmup.used(source, day);
        this.#share.seen(source, day, used, this.#clock.now());
        return used;
      },
      () => {
        const used = this.#share.used(source, day);
        if (used === null) throw new SluiceError('STATE_UNAVAILABLE', 'warm-up count unknown while redis is away');
        return used;
      },
    );
  }

  async #flush(): Promise<void> {
    for (const { source, day, messages } of this.#share.pending()) {
      const used = await this.#shared.warmup.add(source, day, messages);
      this.#share.flushed(source, day, messages, used);
    }
  }
}

/** Health: outcomes seen while Redis is away are counted, and read, locally. */
class FallbackHealth implements HealthStore {
  readonly #shared: HealthStore;
  readonly #mode: FallbackMode;
  readonly #clock: Clock;
  readonly #local = new HealthWindows();

  constructor(shared: HealthStore, mode: FallbackMode, clock: Clock) {
    this.#shared = shared;
    this.#mode = mode;
    this.#clock = clock;
  }

  record(source: string, provider: string, outcome: HealthOutcome): Promise<void> {
    return this.#mode.attempt(
      () => this.#shared.record(source, provider, outcome),
      () => this.#local.record(seriesName(source, provider), outcome, this.#clock.now()),
    );
  }

  counts(source: string, provider: string, windowMs: number): Promise<HealthCounts> {
    return this.#mode.attempt(
      () => this.#shared.counts(source, provider, windowMs),
      () => this.#local.counts(seriesName(source, provider), windowMs, this.#clock.now()),
    );
  }
}

/**
 * Guessing limits: while Redis is away, this node counts alone against its share of
 * each limit (limit / live nodes, at least 1), so the fleet never allows more guesses
 * than with Redis; it neither lets every guess through nor refuses every login.
 */
class FallbackFailures implements FailureLimitStore {
  readonly #shared: FailureLimitStore;
  readonly #mode: FallbackMode;
  readonly #local: EmbeddedFailures;

  constructor(shared: FailureLimitStore, mode: FallbackMode, clock: Clock) {
    this.#shared = shared;
    this.#mode = mode;
    this.#local = new EmbeddedFailures(clock);
  }

  attempt(claims: readonly FailureClaim[]): Promise<AttemptResult> {
    return this.#mode.attempt(
      () => this.#shared.attempt(claims),
      () => this.#local.attempt(claims.map((c) => ({ ...c, limit: Math.max(1, Math.floor(c.limit / this.#mode.nodes())) }))),
    );
  }

  async refund(keys: readonly string[]): Promise<void> {
    // A charge taken on one side and given back on the other costs one attempt at most.
    await this.#mode.attempt(
      () => this.#shared.refund(keys),
      () => this.#local.refund(keys),
    );
  }
}

/** Holds: changes need Redis; reads fall back to the last list seen, so a held source stays held. */
class CachedHolds implements HoldStore {
  readonly #shared: HoldStore;
  readonly #mode: FallbackMode;
  readonly #clock: Clock;
  #last: readonly Hold[] | null = null;

  constructor(shared: HoldStore, mode: FallbackMode, clock: Clock) {
    this.#shared = shared;
    this.#mode = mode;
    this.#clock = clock;
  }

  set(hold: Hold): Promise<void> {
    return this.#mode.sharedOnly('hold set', () => this.#shared.set(hold));
  }

  lift(scope: string): Promise<boolean> {
    return this.#mode.sharedOnly('hold lift', () => this.#shared.lift(scope));
  }

  all(): Promise<readonly Hold[]> {
    return this.#mode.attempt(
      async () => {
        this.#last = await this.#shared.all();
        return this.#last;
      },
      () => {
        if (this.#last === null) throw new SluiceError('STATE_UNAVAILABLE', 'holds unknown while redis is away');
        const now = this.#clock.now();
        return this.#last.filter((hold) => holdInForce(hold, now));
      },
    );
  }
}

/** Nodes: heartbeats need Redis; live() falls back to the last list seen, which also sizes the shares. */
class CachedNodes implements NodeRegistry {
  readonly #shared: NodeRegistry;
  readonly #mode: FallbackMode;
  readonly #fleet: FleetSize;
  #last: readonly NodeInfo[] | null = null;

  constructor(shared: NodeRegistry, mode: FallbackMode, fleet: FleetSize) {
    this.#shared = shared;
    this.#mode = mode;
    this.#fleet = fleet;
  }

  heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    return this.#mode.sharedOnly('heartbeat', () => this.#shared.heartbeat(info, ttlMs));
  }

  live(): Promise<readonly NodeInfo[]> {
    return this.#mode.attempt(
      async () => {
        this.#last = await this.#shared.live();
        this.#fleet.seen(this.#last.length);
        return this.#last;
      },
      () => {
        if (this.#last === null) throw new SluiceError('STATE_UNAVAILABLE', 'live nodes unknown while redis is away');
        return this.#last;
      },
    );
  }

  leave(id: string): Promise<void> {
    return this.#mode.sharedOnly('leave', () => this.#shared.leave(id));
  }

  publishShares(id: string, shares: unknown): Promise<void> {
    return this.#mode.sharedOnly('shares', () => this.#shared.publishShares(id, shares));
  }

  /** While Redis is away: the last counts seen stay where they are (the caller keeps them). */
  shares(): Promise<ReadonlyMap<string, unknown>> {
    return this.#mode.sharedOnly('shares', () => this.#shared.shares());
  }
}
