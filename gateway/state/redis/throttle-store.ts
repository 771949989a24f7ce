import { randomUUID } from 'node:crypto';
import { SluiceError } from '../../errors.js';
import type { Lease, LeaseClaim, RateClaim, ThrottleStore, TokenResult } from '../types.js';
import { checkTtl, mergeLeaseClaims } from '../embedded/checks.js';
import { gcraParams } from '../gcra-params.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { RedisClock } from './redis-clock.js';
import { asInteger, asIntegers, asStrings, parseJson } from './replies.js';
import { acquireLease } from './scripts/acquire-lease-n.js';
import { countLease } from './scripts/count-lease-1.js';
import { releaseLease } from './scripts/release-lease-n.js';
import { renewLease } from './scripts/renew-lease-n.js';
import { takeRate } from './scripts/take-rate-n.js';

/** Who holds the leases taken here: lease ids are `<node>:<boot>:<n>`. */
export interface LeaseOwner {
  readonly node: string;
  /** Random per start of the node: a new boot drops the leases of the one before. */
  readonly boot: string;
}

interface Undo {
  readonly keys: readonly string[];
  sending: boolean;
}

/**
 * Leases and rate tokens shared by every node: each call is one Lua script, timed by
 * the Redis clock. Lease ids are chosen here, before the call, so a call that is
 * retried after a lost reply cannot hold two leases.
 *
 * A lease is worth something only while its holder knows it has it. A Redis that
 * stalls (SIGSTOP, a long fork, a partition) still runs the requests we stopped waiting
 * for when it resumes, so: an acquire carries a deadline in Redis time and the script
 * ignores it once past; the id of an acquire we gave up on is released right behind it
 * (same connection, so Redis runs the release after the acquire) and again until Redis
 * confirms; a release that cannot reach Redis waits in the same queue instead of being
 * dropped; and a node's first acquire after a start drops the leases its previous boot
 * left (ids carry node and boot). What still escapes all of that lapses with its TTL.
 */
export class RedisThrottle implements ThrottleStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;
  readonly #owner: LeaseOwner | null;
  readonly #clock: RedisClock;
  /** Lease ids to release once Redis answers: acquires given up on, releases that did not get through. */
  readonly #undo = new Map<string, Undo>();
  #seq = 0;
  #reclaimed: boolean;

  constructor(conn: RedisConnection, keys: StateKeys, owner: LeaseOwner | null = null, clock = new RedisClock()) {
    this.#conn = conn;
    this.#keys = keys;
    this.#owner = owner;
    this.#clock = clock;
    this.#reclaimed = owner === null;
  }

  /** A lease id no other node or boot uses. */
  newLeaseId(): string {
    return this.#owner === null ? randomUUID() : `${this.#owner.node}:${this.#owner.boot}:${++this.#seq}`;
  }

  /** Lease ids waiting to be released in Redis (for tests and status). */
  pendingReleases(): number {
    return this.#undo.size;
  }

  acquire(claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    return this.acquireWithId(this.newLeaseId(), claims, ttlMs);
  }

  /** acquire() with a given id: a retry with the same id finds its lease, not a second one. */
  async acquireWithId(id: string, claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    checkTtl(ttlMs);
    const merged = mergeLeaseClaims(claims);
    const keys = merged.map((claim) => claim.key);
    if (keys.length === 0) return { id, keys };
    await this.#reclaimOnce();
    this.#flushUndo();
    const args = [id, Math.ceil(ttlMs), this.#clock.deadline(this.#conn.commandTimeoutMs), this.#owner === null ? 0 : 1, JSON.stringify(keys), ...merged.map((claim) => claim.limit)];
    let reply: unknown;
    try {
      reply = await this.#conn.script(acquireLease, this.#leaseKeys(keys), args);
    } catch (error) {
      // We stopped waiting, but Redis may still run it: release it right behind it.
      this.#queueRelease(id, keys);
      this.#flushUndo();
      throw error;
    }
    const [status, redisMs] = asIntegers('lease acquire', reply, 2);
    this.#clock.sample(redisMs ?? 0, this.#clock.now());
    if (status === -1) throw new SluiceError('STATE_UNAVAILABLE', 'redis lease acquire: reached redis after its deadline');
    if (status !== 1) return null;
    this.#undo.delete(id);
    return { id, keys };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    if (lease.keys.length === 0) return true;
    this.#flushUndo();
    const reply = await this.#conn.script(renewLease, this.#leaseKeys(lease.keys), [lease.id, Math.ceil(ttlMs)]);
    return asInteger('lease renew', reply) === 1;
  }

  async release(lease: Lease): Promise<void> {
    if (lease.keys.length === 0) return;
    this.#queueRelease(lease.id, lease.keys);
    await this.#sendRelease(lease.id);
  }

  /** Releases `lease` once Redis answers again (it is unreachable now): never dropped. */
  releaseLater(lease: Lease): void {
    if (lease.keys.length > 0) this.#queueRelease(lease.id, lease.keys);
  }

  async leaseCount(key: string): Promise<number> {
    this.#flushUndo();
    return asInteger('lease count', await this.#conn.script(countLease, [this.#keys.lease(key)], []));
  }

  take(claims: readonly RateClaim[]): Promise<TokenResult> {
    return this.takeCharging(claims, []);
  }

  /**
   * take(), first charging `debts[i]` tokens to claim i's bucket, taken or not: the
   * tokens this node granted from its local share while Redis was away (state/fallback/rates.ts).
   */
  async takeCharging(claims: readonly RateClaim[], debts: readonly number[]): Promise<TokenResult> {
    if (claims.length === 0) return { ok: true };
    this.#flushUndo();
    const args = claims.flatMap((claim, i) => {
      const { intervalUs, toleranceUs } = gcraParams(claim.rate);
      return [intervalUs, toleranceUs, debts[i] ?? 0];
    });
    const reply = await this.#conn.script(
      takeRate,
      claims.map((claim) => this.#keys.rate(claim.key)),
      args,
    );
    const [ok, retryAfterMs] = asIntegers('rate take', reply, 2);
    return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: Math.max(1, retryAfterMs ?? 1) };
  }

  #queueRelease(id: string, keys: readonly string[]): void {
    if (!this.#undo.has(id)) this.#undo.set(id, { keys: [...new Set(keys)], sending: false });
  }

  /** Sends every queued release not on its way already; each stays queued until Redis confirms it. */
  #flushUndo(): void {
    for (const [id, undo] of this.#undo) if (!undo.sending) void this.#sendRelease(id).catch(() => undefined);
  }

  async #sendRelease(id: string): Promise<void> {
    const undo = this.#undo.get(id);
    if (undo === undefined) return;
    undo.sending = true;
    try {
      await this.#conn.script(releaseLease, this.#leaseKeys(undo.keys), [id]);
      // Unless the id was taken again meanwhile (then this release ran before that acquire).
      if (this.#undo.get(id) === undo) this.#undo.delete(id);
    } finally {
      undo.sending = false;
    }
  }

  /** Before this boot's first acquire: drop the leases an earlier boot of this node left. */
  async #reclaimOnce(): Promise<void> {
    if (this.#reclaimed || this.#owner === null) return;
    const holder = this.#keys.leaseHolder(this.#owner.node);
    const entries = await this.#conn.run('lease reclaim', (redis) => redis.hgetall(holder));
    const mine = `${this.#owner.node}:${this.#owner.boot}:`;
    for (const [id, json] of Object.entries(entries)) {
      if (id.startsWith(mine)) continue;
      const keys = asStrings('lease reclaim', parseJson('lease reclaim', json));
      await this.#conn.script(releaseLease, this.#leaseKeys(keys), [id]);
    }
    this.#reclaimed = true;
  }

  /** The holder's index first, then one sorted set per lease key (the scripts' KEYS). */
  #leaseKeys(keys: readonly string[]): string[] {
    const holder = this.#keys.leaseHolder(this.#owner?.node ?? '');
    return [holder, ...[...new Set(keys)].map((key) => this.#keys.lease(key))];
  }
}
