/**
 * Cluster-fair weights: how many messages of each pool the fleet placed on each source
 * lately, so that a pool's traffic splits over its sources by weight across the fleet,
 * whichever node accepted it. Each node counts what it places itself (kept here, or
 * handed to the peer holding the source) in 10-second buckets over the last minute and
 * publishes those counts on its heartbeat (NodeInfo.shares); a node deciding adds its
 * peers' last published counts to its own live ones. A message handed over is counted
 * once, by the node that placed it: the peer that takes it does not count it again.
 * Peers' counts are at most one heartbeat old, which is why the window is a minute.
 */
import type { NodeInfo } from '../state/types.js';

export const SHARE_BUCKET_MS = 10_000;
export const SHARE_WINDOW_MS = 60_000;

/** pool -> source -> messages placed in the window. */
export type ShareCounts = Readonly<Record<string, Readonly<Record<string, number>>>>;

interface Bucket {
  readonly start: number;
  readonly counts: Map<string, Map<string, number>>;
}

export class PoolShares {
  private buckets: Bucket[] = [];

  constructor(
    private readonly self: string,
    private readonly now: () => number,
  ) {}

  /** This node placed one message of `pool` on `source`. */
  note(pool: string, source: string): void {
    const b = this.current();
    let bySource = b.counts.get(pool);
    if (!bySource) b.counts.set(pool, (bySource = new Map<string, number>()));
    bySource.set(source, (bySource.get(source) ?? 0) + 1);
  }

  /** This node's counts over the window, as its heartbeat publishes them. */
  published(): ShareCounts {
    this.prune();
    const out: Record<string, Record<string, number>> = {};
    for (const b of this.buckets) {
      for (const [pool, bySource] of b.counts) {
        const row = (out[pool] ??= {});
        for (const [source, n] of bySource) row[source] = (row[source] ?? 0) + n;
      }
    }
    return out;
  }

  /** Messages of `pool` the fleet placed per source in the window: this node's live counts and each live peer's last published ones. */
  fleet(pool: string, live: readonly NodeInfo[]): Map<string, number> {
    const total = new Map<string, number>(Object.entries(this.published()[pool] ?? {}));
    for (const n of live) {
      if (n.id === this.self) continue;
      const row = readShares(n.shares)?.[pool];
      if (!row) continue;
      for (const [source, count] of Object.entries(row)) total.set(source, (total.get(source) ?? 0) + count);
    }
    return total;
  }

  private current(): Bucket {
    const start = Math.floor(this.now() / SHARE_BUCKET_MS) * SHARE_BUCKET_MS;
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) return last;
    this.prune();
    const b: Bucket = { start, counts: new Map<string, Map<string, number>>() };
    this.buckets.push(b);
    return b;
  }

  private prune(): void {
    const oldest = this.now() - SHARE_WINDOW_MS;
    while (this.buckets[0] && this.buckets[0].start + SHARE_BUCKET_MS <= oldest) this.buckets.shift();
  }
}

/** A peer's published counts, when they have the expected shape (another version may publish none). */
function readShares(value: unknown): ShareCounts | null {
  if (typeof value !== 'object' || value === null) return null;
  for (const row of Object.values(value as Record<string, unknown>)) {
    if (typeof row !== 'object' || row === null) return null;
    for (const n of Object.values(row as Record<string, unknown>)) if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return null;
  }
  return value as ShareCounts;
}
