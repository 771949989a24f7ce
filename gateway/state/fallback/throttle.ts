import type { Clock, Lease, LeaseClaim, RateClaim, ThrottleStore, TokenResult } from '../types.js';
import { checkTtl, mergeLeaseClaims } from '../embedded/checks.js';
import { shareLimit } from './fleet-share.js';
import { LeaseLedger } from './lease-ledger.js';
import type { FallbackMode } from './mode.js';
import { FallbackRates } from './rates.js';
import type { RedisThrottle } from '../redis/throttle-store.js';

const SWEEP_EVERY = 1_024;

/**
 * Shared leases and rates through Redis; while Redis is away, this node's share of
 * each limit (fleet-share.ts), counted against every lease the node holds, including
 * those Redis granted before it went away. When Redis is back, the leases granted
 * locally join the shared count before this node takes any new one (#joinLocal), and
 * each that finds no room is refused at its next renew (the caller closes that
 * connection). So after an outage the fleet holds at most the limit plus the share of
 * one node still on its own (one back first fills the shared limit; one back later is
 * refused more); before, every node's local leases came on top of a full shared limit
 * (up to 8 connections against 4 with two nodes, test/chaos/redis-faults.chaos.ts).
 * Rate tokens: rates.ts.
 */
export class FallbackThrottle implements ThrottleStore {
  readonly #shared: RedisThrottle;
  readonly #mode: FallbackMode;
  readonly #clock: Clock;
  readonly #ledger = new LeaseLedger();
  readonly #rates: FallbackRates;
  #calls = 0;

  constructor(shared: RedisThrottle, mode: FallbackMode, clock: Clock) {
    this.#shared = shared;
    this.#mode = mode;
    this.#clock = clock;
    this.#rates = new FallbackRates(clock);
  }

  async acquire(claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    checkTtl(ttlMs);
    const merged = mergeLeaseClaims(claims);
    const keys = merged.map((claim) => claim.key);
    return this.#mode.attempt(
      async () => {
        if (!(await this.#joinLocal(keys, ttlMs))) return null;
        const id = this.#shared.newLeaseId();
        const lease = await this.#shared.acquireWithId(id, merged, ttlMs);
        if (lease !== null) this.#ledger.record(id, merged, 'shared', this.#clock.now() + ttlMs);
        return lease;
      },
      () => {
        // A fresh id: the one of a shared acquire given up on is being released in Redis.
        const id = this.#shared.newLeaseId();
        const now = this.#tick();
        const nodes = this.#mode.nodes();
        const granted = this.#ledger.tryLocal(id, merged, (c) => shareLimit(c.limit, nodes), now + ttlMs, now);
        return granted ? { id, keys } : null;
      },
    );
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const held = this.#ledger.get(lease.id, this.#tick());
    return this.#mode.attempt(
      async () => {
        let ok = (held === undefined || held.origin === 'shared') && (await this.#shared.renew(lease, ttlMs));
        if (!ok && held !== undefined) {
          ok = (await this.#shared.acquireWithId(lease.id, held.claims, ttlMs)) !== null;
        }
        if (ok && held !== undefined) {
          this.#ledger.markShared(lease.id);
          this.#ledger.extend(lease.id, this.#clock.now() + ttlMs);
        } else if (!ok) {
          this.#ledger.remove(lease.id);
        }
        return ok;
      },
      () => {
        if (held === undefined) return false;
        this.#ledger.extend(lease.id, this.#clock.now() + ttlMs);
        return true;
      },
    );
  }

  async release(lease: Lease): Promise<void> {
    const held = this.#ledger.get(lease.id, this.#tick());
    this.#ledger.remove(lease.id);
    if (held?.origin === 'local') return;
    // Redis away: released as soon as it answers again (dropping it would leave a lease
    // nobody holds filling the limit until its TTL).
    await this.#mode.attempt(
      () => this.#shared.release(lease),
      () => this.#shared.releaseLater(lease),
    );
  }

  async leaseCount(key: string): Promise<number> {
    return this.#mode.attempt(
      () => this.#shared.leaseCount(key),
      () => this.#ledger.count(key, this.#tick()),
    );
  }

  async take(claims: readonly RateClaim[]): Promise<TokenResult> {
    return this.#mode.attempt(
      () => this.#rates.takeShared(claims, this.#mode.nodes(), (c, debts) => this.#shared.takeCharging(c, debts)),
      () => this.#rates.takeLocal(claims, this.#mode.nodes()),
    );
  }

  /**
   * Puts every lease this node granted locally while Redis was away into the shared
   * count, with the lease's own id (a retry finds it, it does not take a second slot).
   * False when one on any of `keys` found no room: the node already holds more there
   * than the shared limit leaves it, so it must open nothing more on those keys.
   */
  async #joinLocal(keys: readonly string[], ttlMs: number): Promise<boolean> {
    let room = true;
    for (const [id, held] of this.#ledger.locals(this.#clock.now())) {
      const joined = (await this.#shared.acquireWithId(id, held.claims, ttlMs)) !== null;
      if (joined) this.#ledger.markShared(id);
      else if (held.claims.some((claim) => keys.includes(claim.key))) room = false;
    }
    return room;
  }

  #tick(): number {
    const now = this.#clock.now();
    if (++this.#calls % SWEEP_EVERY === 0) this.#ledger.sweep(now);
    return now;
  }
}
