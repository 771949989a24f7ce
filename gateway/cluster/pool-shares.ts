/**
 * Cluster-fair weights: how much of each pool's traffic enters each node, so that a pool's
 * traffic splits over its sources by weight across the fleet, whichever node accepted it.
 *
 * Each node counts, in 10-second buckets over the last minute, the messages of each pool
 * it routes that were not handed to it (what *enters* there), and publishes those counts
 * in the node registry every SHARE_PUBLISH_MS (ShareExchange, apart from the heartbeat:
 * with the counts on a heartbeat of 1 s, 600 messages entering one node of three in 2 s
 * left 256 / 184 / 160 instead of a third each, as the node kept what entered it until
 * its count was out). What enters a node does not depend on where the fleet sends mail,
 * so the counts can be a little old without the nodes chasing each other: had they
 * published where they placed mail, two nodes seeing the same stale counts would both
 * send to the same source until the next publication, and back again.
 *
 * From the entries of every live node the handoff works out each node's target (its
 * usable sources' weight share of everything that entered) and, from that, the fraction
 * of its own traffic it keeps; the rest goes to the nodes whose target exceeds what
 * enters them, in proportion to the gap. Locally (never published) each node also counts
 * what it kept, what it passed to each peer, and per source, to hold those fractions.
 */
import type { NodeInfo, NodeRegistry } from '../state/types.js';

export const SHARE_BUCKET_MS = 10_000;
export const SHARE_WINDOW_MS = 60_000;
/** How often a node publishes its entry counts and reads its peers': one HSET and one HGETALL each time. */
export const SHARE_PUBLISH_MS = 200;

/** What a node publishes: when (its clock), and per pool the messages that entered it in the window. */
export interface ShareCounts {
  readonly at: number;
  readonly pools: Readonly<Record<string, number>>;
}

/** A peer's figures are carried forward at its recent rate for at most this long (a few heartbeats). */
const EXTRAPOLATE_MS = 3_000;

type Counts = Map<string, number>;

interface Bucket {
  readonly start: number;
  readonly entered: Counts;
  readonly kept: Counts;
  /** `pool\0node` -> messages passed to that peer. */
  readonly passed: Counts;
  /** `pool\0source` -> messages placed on that source (kept or passed). */
  readonly placed: Counts;
}

const add = (m: Counts, key: string) => m.set(key, (m.get(key) ?? 0) + 1);

export class PoolShares {
  private buckets: Bucket[] = [];
  /** Each node's last two publications that differ in time (this node's too): their difference is its recent rate. */
  private readonly seen = new Map<string, { last: ShareCounts; prev: ShareCounts | null }>();

  constructor(
    private readonly self: string,
    private readonly now: () => number,
  ) {}

  /** A message of `pool` entered here (routed, not handed over by a peer). */
  entered(pool: string): void {
    add(this.current().entered, pool);
  }

  /** This node kept a message of `pool` on its own `source`. */
  kept(pool: string, source: string): void {
    const b = this.current();
    add(b.kept, pool);
    add(b.placed, `${pool}\u0000${source}`);
  }

  /** This node passed a message of `pool` to `node`, for its `source`. */
  passed(pool: string, node: string, source: string): void {
    const b = this.current();
    add(b.passed, `${pool}\u0000${node}`);
    add(b.placed, `${pool}\u0000${source}`);
  }

  /** This node's live counts over the window. */
  local(pool: string): { entered: number; kept: number; passedTo: (node: string) => number; placedOn: (source: string) => number } {
    this.prune();
    const sum = (pick: (b: Bucket) => Counts, key: string) => this.buckets.reduce((s, b) => s + (pick(b).get(key) ?? 0), 0);
    return {
      entered: sum((b) => b.entered, pool),
      kept: sum((b) => b.kept, pool),
      passedTo: (node) => sum((b) => b.passed, `${pool}\u0000${node}`),
      placedOn: (source) => sum((b) => b.placed, `${pool}\u0000${source}`),
    };
  }

  /** The entries per pool over the window, as the heartbeat publishes them. */
  published(): ShareCounts {
    this.prune();
    const pools: Record<string, number> = {};
    for (const b of this.buckets) for (const [pool, n] of b.entered) pools[pool] = (pools[pool] ?? 0) + n;
    return { at: this.now(), pools };
  }

  /**
   * What entered each live node for `pool` in the window, as of now: each node's last
   * published count, as the registry read carried it, carried forward at the rate between
   * its last two publications (for at most a few seconds), so that a peer read a heartbeat
   * late does not look like a peer with less traffic, nor a peer whose traffic stopped
   * like one with more. This node's own count is read the same way (its live count only
   * until its first publication is seen): compared with its peers' counts a heartbeat old,
   * its live count ran ahead at the start of every burst, and traffic entering every node
   * evenly was passed around for that (2 640 of 4 000 through HAProxy in the replicas bench).
   */
  fleet(pool: string, live: readonly NodeInfo[]): Map<string, number> {
    const now = this.now();
    const out = new Map<string, number>([[this.self, this.local(pool).entered]]);
    for (const n of live) {
      const known = this.seen.get(n.id);
      if (!known) {
        if (n.id !== this.self) out.set(n.id, 0);
        continue;
      }
      const count = known.last.pools[pool] ?? 0;
      const prev = known.prev;
      const rate = prev && known.last.at > prev.at ? Math.max(0, (count - (prev.pools[pool] ?? 0)) / (known.last.at - prev.at)) : 0;
      out.set(n.id, count + rate * Math.min(EXTRAPOLATE_MS, Math.max(0, now - known.last.at)));
    }
    return out;
  }

  /** Each read of the published counts (ShareExchange): those of the live nodes, this node's own included. */
  observe(live: readonly string[], published: ReadonlyMap<string, unknown>): void {
    for (const id of live) {
      const theirs = readShares(published.get(id));
      if (!theirs) continue;
      const known = this.seen.get(id);
      if (!known) this.seen.set(id, { last: theirs, prev: null });
      else if (theirs.at !== known.last.at) {
        known.prev = known.last;
        known.last = theirs;
      }
    }
    for (const id of this.seen.keys()) if (!live.includes(id)) this.seen.delete(id);
  }

  private current(): Bucket {
    const start = Math.floor(this.now() / SHARE_BUCKET_MS) * SHARE_BUCKET_MS;
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) return last;
    this.prune();
    const b: Bucket = { start, entered: new Map(), kept: new Map(), passed: new Map(), placed: new Map() };
    this.buckets.push(b);
    return b;
  }

  private prune(): void {
    const oldest = this.now() - SHARE_WINDOW_MS;
    while (this.buckets[0] && this.buckets[0].start + SHARE_BUCKET_MS <= oldest) this.buckets.shift();
  }
}

/** A peer's published counts, when they have the expected shape (another version may publish another). */
function readShares(value: unknown): ShareCounts | null {
  if (typeof value !== 'object' || value === null) return null;
  const { at, pools } = value as { at?: unknown; pools?: unknown };
  if (typeof at !== 'number' || typeof pools !== 'object' || pools === null) return null;
  for (const n of Object.values(pools as Record<string, unknown>)) if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return null;
  return value as ShareCounts;
}

export interface ShareExchangeDeps {
  readonly self: string;
  readonly shares: PoolShares;
  readonly registry: Pick<NodeRegistry, 'publishShares' | 'shares'>;
  /** The live nodes as membership last read them: only their counts are used. */
  readonly live: () => readonly NodeInfo[];
}

/**
 * Publishes this node's entry counts and reads every live node's, every SHARE_PUBLISH_MS.
 * While the registry does not answer (Redis away) the last counts read stay, carried
 * forward for EXTRAPOLATE_MS at most, and are read again once it answers.
 */
export class ShareExchange {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly deps: ShareExchangeDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.exchange(), SHARE_PUBLISH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One publication and one read (a slow registry skips turns rather than piling them up). */
  async exchange(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { self, shares, registry } = this.deps;
      await registry.publishShares(self, shares.published());
      const all = await registry.shares();
      shares.observe(this.deps.live().map((n) => n.id), all);
    } catch {
      // Redis away or slow: membership and the state layer report it; the counts wait.
    } finally {
      this.busy = false;
    }
  }
}
