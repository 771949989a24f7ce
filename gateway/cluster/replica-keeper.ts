/**
 * The holding side of `[cluster] replicas = 2` (docs/CLUSTER.md "Replicas"). On every
 * tick: drop the copies whose messages are final at their origin (read from the ledger),
 * and take over the copies of an origin that is down (no live heartbeat for
 * failover_after): claim them in the ledger, put them in this node's queue, drop the copy.
 * Also, at start, what this node's own peers took over while it was down.
 */
import type { Logger as NodeLog } from '../observe/logger.js';
import type { ReplicaLedger } from '../state/replica-ledger.js';
import type { Envelope } from '../spool/types.js';
import type { ReplicaStore } from './replica-store.js';
import { pendingRcpts } from './peer-facts.js';

export interface ReplicaKeeperOptions {
  readonly self: string;
  readonly store: ReplicaStore;
  readonly ledger: ReplicaLedger;
  /** Ids of the nodes with a live heartbeat now (rejects when the registry cannot answer). */
  readonly liveNodes: () => Promise<ReadonlySet<string>>;
  /** Puts a taken-over message into this node's queue; resolves once it is in the spool. */
  readonly adopt: (envelope: Envelope, body: Buffer, origin: string) => Promise<void>;
  readonly log: NodeLog;
  readonly now: () => number;
  /** Copies older than this are dropped whatever the ledger says (max_age plus a day). */
  readonly keepForMs: () => number;
  readonly count?: (what: 'dropped' | 'taken_over' | 'expired', n: number) => void;
}

export class ReplicaKeeper {
  /** Per origin: how far its final stream has been read. */
  private readonly cursors = new Map<string, string>();
  private running: Promise<void> | null = null;

  constructor(private readonly opts: ReplicaKeeperOptions) {}

  /** One pass; a pass still running is joined, not doubled. */
  tick(): Promise<void> {
    this.running ??= this.pass()
      .catch((err: unknown) => this.opts.log.warn({ event: 'replica_tick_failed', err }, 'replica bookkeeping failed: retrying on the next tick'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async pass(): Promise<void> {
    const origins = this.opts.store.origins();
    if (origins.length === 0) return;
    const live = await this.opts.liveNodes();
    for (const origin of origins) {
      await this.syncDrops(origin);
      if (origin !== this.opts.self && !live.has(origin)) await this.takeOver(origin);
    }
  }

  /** Drops every copy of `origin` that its ledger stream says is final, and expired ones. */
  async syncDrops(origin: string): Promise<void> {
    let cursor = this.cursors.get(origin) ?? '0';
    for (;;) {
      const page = await this.opts.ledger.readFinal(origin, cursor);
      if (page.ids.length > 0) this.opts.count?.('dropped', await this.opts.store.drop(origin, page.ids));
      if (page.cursor === cursor) break;
      cursor = page.cursor;
    }
    this.cursors.set(origin, cursor);
    const old = this.opts.store.olderThan(origin, this.opts.now() - this.opts.keepForMs());
    if (old.length > 0) this.opts.count?.('expired', await this.opts.store.drop(origin, old));
  }

  /** Claims what this node holds of a down origin and queues it here. */
  async takeOver(origin: string): Promise<number> {
    const ids = this.opts.store.ids(origin);
    const claimed = await this.opts.ledger.claim(origin, this.opts.self, ids);
    if (claimed === null) return 0; // back already: it keeps its own mail
    let n = 0;
    for (const id of claimed) {
      if (!this.opts.store.has(origin, id)) continue;
      const { facts, body } = await this.opts.store.read(origin, id);
      const rcpts = pendingRcpts(facts);
      if (rcpts.length > 0) await this.opts.adopt({ ...facts.envelope, rcpts }, body, origin);
      await this.opts.store.drop(origin, [id]);
      n++;
    }
    const left = ids.length - claimed.length;
    this.opts.count?.('taken_over', n);
    this.opts.log.warn({ event: 'replicas_taken_over', origin, taken: n, left_to_others: left }, `${origin} is down: took over ${n} of its messages`);
    return n;
  }
}

/**
 * At start, before the spool's messages are queued: what peers took over from this node
 * while it was down. It marks the node live first (no claim after it), so the set is final.
 * Retries while Redis does not answer, up to `waitMs`; then an empty set (and a warning:
 * the messages may go out twice).
 */
export async function takenWhileDown(ledger: ReplicaLedger, self: string, ttlMs: number, waitMs: number, log: NodeLog): Promise<ReadonlyMap<string, string>> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return await ledger.collectTaken(self, ttlMs);
    } catch (err) {
      if (Date.now() >= until) {
        log.warn({ event: 'replica_taken_unknown', err }, 'cannot read which messages peers took over: delivering all of the spool (some may go out twice)');
        return new Map();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
