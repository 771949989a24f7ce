import { randomUUID } from 'node:crypto';
import type { Clock, Lease, LeaseClaim, RateClaim, ThrottleStore, TokenResult } from '../types.js';
import { checkTtl, mergeLeaseClaims } from './checks.js';
import { GcraTable } from './gcra.js';
import { LeaseTable } from './lease-table.js';

/** Sweep idle keys every this many calls: keeps memory to live keys at O(1) amortised cost. */
const SWEEP_EVERY = 1_024;

/**
 * Connection leases and rate tokens of a single node. Nothing is persisted: after a
 * restart no connection is open, so no lease is held, and a refilled bucket is the
 * conservative-enough start for a rate a provider counts per second.
 */
export class EmbeddedThrottle implements ThrottleStore {
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #leases = new LeaseTable();
  readonly #rates = new GcraTable();
  #calls = 0;

  constructor(clock: Clock, newId: () => string = randomUUID) {
    this.#clock = clock;
    this.#newId = newId;
  }

  async acquire(claims: readonly LeaseClaim[], ttlMs: number): Promise<Lease | null> {
    checkTtl(ttlMs);
    const merged = mergeLeaseClaims(claims);
    const now = this.#tick();
    if (merged.some((claim) => this.#leases.count(claim.key, now) >= claim.limit)) return null;
    const id = this.#newId();
    for (const claim of merged) this.#leases.add(claim.key, id, now + ttlMs);
    return { id, keys: merged.map((claim) => claim.key) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const now = this.#tick();
    // A lease that lapsed on any key is gone: the caller must stop using it.
    if (!lease.keys.every((key) => this.#leases.holds(key, lease.id, now))) return false;
    for (const key of lease.keys) this.#leases.add(key, lease.id, now + ttlMs);
    return true;
  }

  async release(lease: Lease): Promise<void> {
    for (const key of lease.keys) this.#leases.remove(key, lease.id);
  }

  async leaseCount(key: string): Promise<number> {
    return this.#leases.count(key, this.#clock.now());
  }

  async take(claims: readonly RateClaim[]): Promise<TokenResult> {
    return this.#rates.take(claims, this.#tick());
  }

  #tick(): number {
    const now = this.#clock.now();
    if (++this.#calls % SWEEP_EVERY === 0) {
      this.#leases.sweep(now);
      this.#rates.sweep(now);
    }
    return now;
  }
}
