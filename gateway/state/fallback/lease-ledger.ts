import type { LeaseClaim } from '../types.js';
import { LeaseTable } from '../embedded/lease-table.js';

/** Where a lease was granted: by the shared store, or locally from this node's share. */
export type LeaseOrigin = 'shared' | 'local';

export interface LedgerLease {
  readonly claims: readonly LeaseClaim[];
  origin: LeaseOrigin;
  expiresAt: number;
}

/**
 * Every lease this node holds, whoever granted it. While the shared store is away the
 * node's share is checked against all of them, including leases Redis granted before
 * it went away (those connections are still open). Entries lapse with their TTL.
 */
export class LeaseLedger {
  readonly #byKey = new LeaseTable();
  readonly #leases = new Map<string, LedgerLease>();
  /** Ids of the leases granted locally and not yet joined to the shared count. */
  readonly #local = new Set<string>();

  get(id: string, now: number): LedgerLease | undefined {
    const lease = this.#leases.get(id);
    if (lease !== undefined && lease.expiresAt <= now) {
      this.remove(id);
      return undefined;
    }
    return lease;
  }

  count(key: string, now: number): number {
    return this.#byKey.count(key, now);
  }

  record(id: string, claims: readonly LeaseClaim[], origin: LeaseOrigin, expiresAt: number): void {
    this.#leases.set(id, { claims, origin, expiresAt });
    if (origin === 'local') this.#local.add(id);
    else this.#local.delete(id);
    for (const claim of claims) this.#byKey.add(claim.key, id, expiresAt);
  }

  /** Grants a local lease when every claim is under `limitOf(claim)`; all or nothing. */
  tryLocal(
    id: string,
    claims: readonly LeaseClaim[],
    limitOf: (claim: LeaseClaim) => number,
    expiresAt: number,
    now: number,
  ): boolean {
    if (claims.some((claim) => this.count(claim.key, now) >= limitOf(claim))) return false;
    this.record(id, claims, 'local', expiresAt);
    return true;
  }

  /** A local lease the shared store now counts too. */
  markShared(id: string): void {
    const lease = this.#leases.get(id);
    if (lease !== undefined) lease.origin = 'shared';
    this.#local.delete(id);
  }

  /** The live leases granted locally that the shared store does not count yet. */
  locals(now: number): [string, LedgerLease][] {
    const out: [string, LedgerLease][] = [];
    for (const id of [...this.#local]) {
      const lease = this.get(id, now);
      if (lease !== undefined) out.push([id, lease]);
    }
    return out;
  }

  extend(id: string, expiresAt: number): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    lease.expiresAt = expiresAt;
    for (const claim of lease.claims) this.#byKey.add(claim.key, id, expiresAt);
  }

  remove(id: string): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    this.#leases.delete(id);
    this.#local.delete(id);
    for (const claim of lease.claims) this.#byKey.remove(claim.key, id);
  }

  /** Forgets lapsed leases: a node that crashes mid-connection must not leak entries. */
  sweep(now: number): void {
    for (const [id, lease] of this.#leases) if (lease.expiresAt <= now) this.remove(id);
    this.#byKey.sweep(now);
  }
}
