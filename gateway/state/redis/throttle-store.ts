import { randomUUID } from 'node:crypto';
import type { Lease, LeaseClaim, RateClaim, ThrottleStore, TokenResult } from '../types.js';
import { checkTtl, mergeLeaseClaims } from '../embedded/checks.js';
import { gcraParams } from '../embedded/gcra.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asInteger, asIntegers } from './replies.js';
import { acquireLease } from './scripts/acquire-lease-n.js';
import { countLease } from './scripts/count-lease-1.js';
import { releaseLease } from './scripts/release-lease-n.js';
import { renewLease } from './scripts/renew-lease-n.js';
import { takeRate } from './scripts/take-rate-n.js';

/**
 * Leases and rate tokens shared by every node: each call is one Lua script, timed by
 * the Redis clock. Lease ids are chosen here, before the call, so a call that is
 * retried after a lost reply cannot hold two leases.
 */
export class RedisThrottle implements ThrottleStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;
  readonly #newId: () => string;

  constructor(conn: RedisConnection, keys: StateKeys, newId: () => string = randomUUID) {
    this.#conn = conn;
    this.#keys = keys;
    this.#newId = newId;
  }

  acquire(claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    return this.acquireWithId(this.#newId(), claims, ttlMs);
  }

  /** acquire() with a given id: a retry with the same id finds its lease, not a second one. */
  async acquireWithId(id: string, claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    checkTtl(ttlMs);
    const merged = mergeLeaseClaims(claims);
    const keys = merged.map((claim) => claim.key);
    if (keys.length === 0) return { id, keys };
    const reply = await this.#conn.script(
      acquireLease,
      keys.map((key) => this.#keys.lease(key)),
      [id, Math.ceil(ttlMs), ...merged.map((claim) => claim.limit)],
    );
    return asInteger('lease acquire', reply) === 1 ? { id, keys } : null;
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    if (lease.keys.length === 0) return true;
    const reply = await this.#conn.script(renewLease, this.#leaseKeys(lease), [lease.id, Math.ceil(ttlMs)]);
    return asInteger('lease renew', reply) === 1;
  }

  async release(lease: Lease): Promise<void> {
    if (lease.keys.length === 0) return;
    await this.#conn.script(releaseLease, this.#leaseKeys(lease), [lease.id]);
  }

  async leaseCount(key: string): Promise<number> {
    return asInteger('lease count', await this.#conn.script(countLease, [this.#keys.lease(key)], []));
  }

  take(claims: readonly RateClaim[]): Promise<TokenResult> {
    return this.takeCharging(claims, []);
  }

  /**
   * take(), first charging `debts[i]` tokens to claim i's bucket, taken or not: the
   * tokens this node granted from its local share while Redis was away (fallback-rates.ts).
   */
  async takeCharging(claims: readonly RateClaim[], debts: readonly number[]): Promise<TokenResult> {
    if (claims.length === 0) return { ok: true };
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

  #leaseKeys(lease: Lease): string[] {
    return [...new Set(lease.keys)].map((key) => this.#keys.lease(key));
  }
}
