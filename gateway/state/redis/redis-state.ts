import type { StateBackend } from '../types.js';
import { RedisConnection } from './connection.js';
import { DEFAULT_PREFIX, stateKeys } from './keys.js';
import { RedisHealth } from './health-store.js';
import { RedisHolds } from './hold-store.js';
import { RedisNodeRegistry } from './node-registry.js';
import { RedisSuppression } from './suppression-store.js';
import { RedisThrottle, type LeaseOwner } from './throttle-store.js';
import { RedisWarmup } from './warmup-store.js';
import { RedisFailures } from './failure-store.js';
import { RedisSenders } from './sender-store.js';
import { RedisClaims } from './claim-store.js';
import { acquireLease } from './scripts/acquire-lease-n.js';
import { addWarmup } from './scripts/add-warmup-1.js';
import { attemptFailures } from './scripts/attempt-failures-n.js';
import { allHolds } from './scripts/all-holds-1.js';
import { checkSuppression } from './scripts/check-suppression-2.js';
import { countHealth } from './scripts/count-health-1.js';
import { countLease } from './scripts/count-lease-1.js';
import { giveBackWarmup } from './scripts/give-back-warmup-1.js';
import { heartbeatNode } from './scripts/heartbeat-node-2.js';
import { liftHold } from './scripts/lift-hold-1.js';
import { liveNodes } from './scripts/live-nodes-2.js';
import { recordHealth } from './scripts/record-health-1.js';
import { refundFailures } from './scripts/refund-failures-n.js';
import { releaseLease } from './scripts/release-lease-n.js';
import { renewLease } from './scripts/renew-lease-n.js';
import { takeRate } from './scripts/take-rate-n.js';
import { takeWarmup } from './scripts/take-warmup-2.js';

const SCRIPTS = [
  acquireLease,
  addWarmup,
  allHolds,
  attemptFailures,
  checkSuppression,
  countHealth,
  countLease,
  giveBackWarmup,
  heartbeatNode,
  liftHold,
  liveNodes,
  recordHealth,
  refundFailures,
  releaseLease,
  renewLease,
  takeRate,
  takeWarmup,
];

export interface RedisStateOptions {
  /** `redis://host:port/db` (rediss:// for TLS). */
  readonly url: string;
  /** Prefix of every key (default "sluice:"), so fleets or tests can share one Redis. */
  readonly prefix?: string;
  /** Every call fails with STATE_UNAVAILABLE after this long (default 500 ms). */
  readonly commandTimeoutMs?: number;
  /**
   * The node taking leases through this state, and its boot: its first acquire drops the
   * leases an earlier boot of the same node left. Absent (CLI, tools): random lease ids.
   */
  readonly leaseOwner?: LeaseOwner;
}

/**
 * State shared by a cluster through one Redis (DESIGN.md "State"). Connecting starts
 * in the constructor and never stops retrying; until Redis answers, every call rejects
 * at once with STATE_UNAVAILABLE and healthy() is false.
 */
export class RedisState implements StateBackend {
  readonly kind = 'redis' as const;
  readonly suppression: RedisSuppression;
  readonly throttle: RedisThrottle;
  readonly warmup: RedisWarmup;
  readonly health: RedisHealth;
  readonly holds: RedisHolds;
  readonly nodes: RedisNodeRegistry;
  readonly failures: RedisFailures;
  readonly senders: RedisSenders;
  readonly claims: RedisClaims;
  readonly #conn: RedisConnection;

  constructor(options: RedisStateOptions) {
    this.#conn = new RedisConnection(
      {
        url: options.url,
        ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
      },
      SCRIPTS,
    );
    const keys = stateKeys(options.prefix ?? DEFAULT_PREFIX);
    this.suppression = new RedisSuppression(this.#conn, keys);
    this.throttle = new RedisThrottle(this.#conn, keys, options.leaseOwner ?? null);
    this.warmup = new RedisWarmup(this.#conn, keys);
    this.health = new RedisHealth(this.#conn, keys);
    this.holds = new RedisHolds(this.#conn, keys);
    this.nodes = new RedisNodeRegistry(this.#conn, keys);
    this.failures = new RedisFailures(this.#conn, keys);
    this.senders = new RedisSenders(this.#conn, keys);
    this.claims = new RedisClaims(this.#conn, keys);
  }

  /** Waits up to `timeoutMs` for the first connection; false if Redis has not answered yet. */
  waitReady(timeoutMs: number): Promise<boolean> {
    return this.#conn.waitReady(timeoutMs);
  }

  healthy(): boolean {
    return this.#conn.healthy();
  }

  /** Redis state is shared or unavailable, never a local substitute (see ResilientState). */
  degraded(): boolean {
    return !this.#conn.healthy();
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}
