import { shareRate } from './fleet-share.js';
import { GcraTable, drainedSince, toUs } from '../embedded/gcra.js';
import type { Clock, RateClaim, TokenResult } from '../types.js';

/** The shared take: claims, and tokens to charge to each claim's bucket first. */
export type SharedTake = (claims: readonly RateClaim[], debts: readonly number[]) => Promise<TokenResult>;

interface Episode {
  /** This node's share buckets, from the start of the outage until the way back is over. */
  readonly table: GcraTable;
  /** Times (ms) of the tokens granted locally, per key, within the share's period. */
  readonly grants: Map<string, number[]>;
  /** When Redis answered a take again (ms); null while it is away. */
  backAt: number | null;
  /** Keys whose local grants have been charged to Redis since backAt. */
  readonly charged: Set<string>;
  /** The longest share period seen: the way back is over that long after backAt. */
  longestMs: number;
}

/**
 * Rate tokens across an outage of Redis, so that no window of one period holds more
 * than the fleet's `count` grants, before, during and after it (docs/SHAPING.md):
 *
 * - Going local: the node takes from its share (fleet-share.ts). Its buckets grant
 *   nothing for one period (plus tolerance) after the outage began, since Redis may
 *   have granted a whole window's worth just before; the nodes' shares sum to `count`.
 * - Coming back: the first shared take of each key charges the tokens granted locally
 *   in the last period to the shared bucket, so windows that span the return count them.
 *   For one period after that every take also needs a token from the local share: a node
 *   back on Redis must not spend the whole shared window while another node is still on
 *   its local share. Exact when the nodes return within one period of each other.
 */
export class FallbackRates {
  readonly #clock: Clock;
  #episode: Episode | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** True while a local episode (the outage or the way back) is in force. */
  active(): boolean {
    return this.#episode !== null;
  }

  /** Redis is away: this node's share of each claim. */
  takeLocal(claims: readonly RateClaim[], nodes: number): TokenResult {
    const now = this.#clock.now();
    const ep = this.#episode ?? this.#begin(now);
    if (ep.backAt !== null) {
      // Away again before the way back ended: the same buckets carry on. Keys charged
      // already may be charged again later with grants counted twice: the safe side.
      ep.backAt = null;
      ep.charged.clear();
    }
    const shares = this.#shares(ep, claims, nodes);
    const result = ep.table.take(shares, now);
    if (result.ok) for (const share of shares) this.#record(ep, share, now);
    return result;
  }

  /** Redis answers: the shared take, charged with local grants, and capped by the local share for one period. */
  async takeShared(claims: readonly RateClaim[], nodes: number, shared: SharedTake): Promise<TokenResult> {
    const ep = this.#episode;
    if (ep === null) return shared(claims, []);
    const now = this.#clock.now();
    const backAt = ep.backAt ?? now;
    if (now >= backAt + ep.longestMs) {
      this.#episode = null;
      return shared(claims, []);
    }
    const shares = this.#shares(ep, claims, nodes);
    const capped = shares.filter((share) => now < backAt + share.rate.periodMs);
    if (capped.length > 0) {
      const probe = ep.table.check(capped, now);
      if (!probe.ok) return probe;
    }
    // Marked before the call, so takes racing this one do not charge the same grants again;
    // if the call fails, takeLocal() clears the marks with the way back.
    const debts = shares.map((share) => (ep.charged.has(share.key) ? 0 : this.#recent(ep, share, now)));
    for (const claim of claims) ep.charged.add(claim.key);
    const result = await shared(claims, debts);
    ep.backAt ??= backAt;
    if (!result.ok || capped.length === 0) return result;
    // Another take may have used the local token while this one waited on Redis: then
    // the shared token goes unused, which only lowers the rate.
    return ep.table.take(capped, this.#clock.now());
  }

  #begin(now: number): Episode {
    const ep: Episode = { table: new GcraTable(drainedSince(toUs(now))), grants: new Map(), backAt: null, charged: new Set(), longestMs: 0 };
    this.#episode = ep;
    return ep;
  }

  #shares(ep: Episode, claims: readonly RateClaim[], nodes: number): RateClaim[] {
    return claims.map((claim) => {
      const rate = shareRate(claim.rate, nodes);
      ep.longestMs = Math.max(ep.longestMs, rate.periodMs);
      return { key: claim.key, rate };
    });
  }

  #record(ep: Episode, share: RateClaim, now: number): void {
    const times = this.#prune(ep, share, now);
    times.push(now);
    ep.grants.set(share.key, times);
  }

  /** Local grants of the key within its share period, this node's count toward the shared window. */
  #recent(ep: Episode, share: RateClaim, now: number): number {
    return this.#prune(ep, share, now).length;
  }

  #prune(ep: Episode, share: RateClaim, now: number): number[] {
    const times = ep.grants.get(share.key) ?? [];
    const from = now - share.rate.periodMs;
    let drop = 0;
    while (drop < times.length && (times[drop] ?? 0) <= from) drop++;
    return drop > 0 ? times.slice(drop) : times;
  }
}
