/**
 * The accepting side of `[cluster] replicas = 2`: before the 250, a copy of the message goes
 * to one live peer, chosen by rendezvous hashing (highest hash of peer id and queue id), so
 * the copies of a node's mail spread evenly and a peer leaving moves only its own share.
 * A peer that fails is tried last for a few seconds, and the next one is tried at once:
 * a peer killed a moment ago is still in the live set until failover_after.
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { Logger as NodeLog } from '../observe/logger.js';
import type { Envelope } from '../spool/types.js';
import type { PeerFacts } from './peer-facts.js';

export interface ReplicaPeer {
  readonly id: string;
  /** host:port of its cluster listener. */
  readonly address: string;
}

/** Sends one replica; resolves only after the peer's 250 (it fsync'd first). */
export type ReplicaSend = (peer: ReplicaPeer, facts: PeerFacts, body: Buffer) => Promise<unknown>;

export type ReplicaResult = { readonly kind: 'replicated'; readonly peer: string } | { readonly kind: 'single'; readonly reason: 'no-peer' | 'peers-failed' };

export interface ReplicatorOptions {
  readonly self: string;
  /** Live peers with a cluster address (this node excluded or not: it is skipped). */
  readonly peers: () => readonly ReplicaPeer[];
  readonly send: ReplicaSend;
  readonly policy: () => 'best-effort' | 'required';
  readonly log: NodeLog;
  readonly now: () => number;
  /** Counts a message accepted with one copy, and a refusal under "required". */
  readonly count?: (what: 'single' | 'refused', reason: string) => void;
  /** Longest wait for one peer's 250 before the next peer is tried (default 5 s). */
  readonly sendTimeoutMs?: number;
  /** How long a peer that failed is tried last (default 3 s). */
  readonly suspectMs?: number;
}

export class Replicator {
  private readonly suspect = new Map<string, number>();

  constructor(private readonly opts: ReplicatorOptions) {}

  /** Peers in the order to try for `queueId`: rendezvous rank, peers that just failed last. */
  order(queueId: string): ReplicaPeer[] {
    const now = this.opts.now();
    const ranked = this.opts
      .peers()
      .filter((p) => p.id !== this.opts.self)
      .map((p) => ({ p, score: rendezvous(p.id, queueId), late: (this.suspect.get(p.id) ?? 0) > now }));
    ranked.sort((a, b) => Number(a.late) - Number(b.late) || (b.score > a.score ? 1 : b.score < a.score ? -1 : 0));
    return ranked.map((r) => r.p);
  }

  /**
   * Puts a copy on one live peer. With none reachable: resolves `single` (best-effort; logged
   * and counted) or rejects with REPLICA_UNAVAILABLE ("required"; a DSN is always best-effort).
   */
  async replicate(envelope: Envelope, body: Buffer): Promise<ReplicaResult> {
    const facts: PeerFacts = { v: 1, kind: 'replica', origin: this.opts.self, queueId: envelope.id, envelope, attempts: {}, done: [], hops: 0 };
    const peers = this.order(envelope.id);
    for (const peer of peers) {
      try {
        await withTimeout(this.opts.send(peer, facts, body), this.opts.sendTimeoutMs ?? 5_000, peer.id);
        this.suspect.delete(peer.id);
        return { kind: 'replicated', peer: peer.id };
      } catch (err) {
        this.suspect.set(peer.id, this.opts.now() + (this.opts.suspectMs ?? 3_000));
        this.opts.log.warn({ event: 'replica_send_failed', queue_id: envelope.id, peer: peer.id, err }, `replica to ${peer.id} failed`);
      }
    }
    const reason = peers.length === 0 ? 'no-peer' : 'peers-failed';
    if (this.opts.policy() === 'required' && !envelope.isDsn) {
      this.opts.count?.('refused', reason);
      this.opts.log.warn({ event: 'replica_refused', queue_id: envelope.id, reason }, 'no live peer took a replica: 451 4.3.0 (replica_policy = "required")');
      throw new SluiceError('REPLICA_UNAVAILABLE', `no live peer took a replica of ${envelope.id} (${reason})`);
    }
    this.opts.count?.('single', reason);
    this.opts.log.warn({ event: 'replica_single_copy', queue_id: envelope.id, reason }, 'accepted with one copy: no live peer took a replica');
    return { kind: 'single', reason };
  }
}

/** Rendezvous (highest random weight) score of a peer for a message. */
export function rendezvous(peer: string, queueId: string): bigint {
  return createHash('sha256').update(peer).update('\u0000').update(queueId).digest().readBigUInt64BE(0);
}

/** Bounds one send: a peer that stops answering must not hold a client's 250 for long. */
function withTimeout<T>(p: Promise<T>, ms: number, peer: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no 250 from ${peer} within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
