/**
 * The handoff (docs/CLUSTER.md "Handoff"): where a routed queue item leaves from when its
 * pool's sources live on several nodes. A source's `node` says which node holds its IP;
 * a node sends only from its own. For each item the scheduler routes, `place` answers:
 *
 * - here: a usable source of the pool is on this node and the pool's fleet-wide split
 *   (cluster-fair weights, pool-shares.ts) does not need this message elsewhere, or the
 *   pool is paused (it waits here as on one node), or nothing anywhere can send now but
 *   this node holds a source of the pool (it waits for that source, as on one node);
 * - peer: the pool (after overflow) has no usable source here, or its split needs this
 *   message on a peer's source: `send` passes it to that live peer's cluster listener
 *   and resolves with the recipients the peer took, after its 250 (it fsync'd first);
 *   the scheduler then marks them handed_off, so nothing is lost on either side of a
 *   crash (a crash between the peer's 250 and that mark sends it again: a duplicate);
 * - later: the pool's sources are all on peers and none is reachable now: route again
 *   in a few seconds.
 *
 * A message a peer handed here is not handed on again (no loops) unless no source of
 * its pool is on this node at all (a replica taken over, a config changed since), and
 * never past MAX_PEER_HOPS. During `sluice drain --handoff` this node's own sources count
 * as unusable, so every item routed goes to a peer that can send it.
 */
import { memberSource, type Config } from '../config/schema.js';
import type { HandoffPort, Placement, QueueItem } from '../queue/types.js';
import type { Envelope } from '../spool/types.js';
import type { Logger } from '../observe/logger.js';
import type { NodeInfo } from '../state/types.js';
import type { PeerDirectory } from './cluster-link.js';
import type { PeerAddress, PeerReceipt } from './peer-client.js';
import { MAX_PEER_HOPS, type PeerFacts } from './peer-facts.js';
import type { PoolShares } from './pool-shares.js';

export interface HandoffDeps<P> {
  readonly self: string;
  readonly config: () => Config;
  /** Fleet-wide holds of a source toward a provider (SourcePicker.standing of the running routing). */
  readonly standing: (source: string, provider: P) => { readonly kind: string };
  /** Whether a pool is paused fleet-wide. */
  readonly poolHeld: (pool: string) => boolean;
  readonly peers: PeerDirectory;
  /** The live nodes as membership last read them (their published shares). */
  readonly live: () => readonly NodeInfo[];
  readonly shares: PoolShares;
  readonly send: (peer: PeerAddress, facts: PeerFacts, body: Buffer) => Promise<PeerReceipt>;
  readonly readBody: (id: string) => Promise<Buffer>;
  readonly log: Logger;
  readonly now: () => number;
}

/** Route again this soon when no peer can take an item now. */
export const HANDOFF_LATER_MS = 3_000;
/** A peer whose send failed is not chosen for this long (it may be dying: failover_after tells). */
const SUSPECT_MS = 3_000;
/** A node's own source keeps a message while its fleet count is at most this far (of the total) above its share. */
const SLACK = 0.02;

interface Candidate {
  readonly source: string;
  readonly weight: number;
  readonly peer: PeerAddress | null;
}

export class Handoff<P> implements HandoffPort<P> {
  private readonly suspect = new Map<string, number>();
  /** `sluice drain --handoff`: this node's sources count as unusable. */
  draining = false;

  constructor(private readonly deps: HandoffDeps<P>) {}

  place(item: QueueItem, pool: string, provider: P): Placement {
    const { config: cfgOf, self } = this.deps;
    const config = cfgOf();
    const env = item.envelope;
    if (this.deps.poolHeld(pool)) return HERE;
    const passedOn = env.peer !== undefined;
    if (passedOn && (env.peer?.hops ?? 0) >= MAX_PEER_HOPS) return HERE;
    let ownsAny = false;
    const seen = new Set<string>();
    for (let p: string | undefined = pool; p !== undefined && !seen.has(p); p = config.pools[p]?.overflow) {
      seen.add(p);
      const locals: Candidate[] = [];
      const remotes: Candidate[] = [];
      for (const m of config.pools[p]?.sources ?? []) {
        const source = memberSource(m);
        const weight = typeof m === 'string' ? 1 : m.weight;
        const node = config.sources[source]?.node;
        if (node === undefined || node === self) {
          ownsAny = true;
          if (!this.draining && this.deps.standing(source, provider).kind === 'usable') locals.push({ source, weight, peer: null });
          continue;
        }
        const peer = this.deps.peers.peer(node);
        if (peer && (this.suspect.get(node) ?? 0) <= this.deps.now() && this.deps.standing(source, provider).kind === 'usable') remotes.push({ source, weight, peer });
      }
      // A message handed here stays when this node holds a source of its pool (loops are impossible).
      if (passedOn && !this.draining && ownsAny) return HERE;
      if (remotes.length === 0) {
        if (locals.length > 0) return this.keep(p, locals);
        continue; // nothing usable in this pool anywhere: its overflow, as the picker does
      }
      if (locals.length === 0) return this.pass(p, remotes, remotes);
      return this.split(p, locals, remotes);
    }
    // Nothing usable now in the whole chain.
    if (ownsAny || this.draining) return HERE;
    return { kind: 'later', retryMs: HANDOFF_LATER_MS, why: `no live node holding a source of pool ${pool} can take it now` };
  }

  /** Cluster-fair weights: this node keeps the message while its sources are within their fleet-wide share. */
  private split(pool: string, locals: readonly Candidate[], remotes: readonly Candidate[]): Placement {
    const all = [...locals, ...remotes];
    const counts = this.deps.shares.fleet(pool, this.deps.live());
    const weights = all.reduce((s, c) => s + c.weight, 0);
    const total = all.reduce((s, c) => s + (counts.get(c.source) ?? 0), 0) + 1;
    const deficit = (c: Candidate) => (c.weight / weights) * total - (counts.get(c.source) ?? 0);
    const best = (list: readonly Candidate[]) => list.reduce((a, b) => (deficit(b) > deficit(a) ? b : a));
    const local = best(locals);
    if (deficit(local) >= -SLACK * total) return this.keep(pool, [local]);
    return this.pass(pool, remotes, [best(remotes)]);
  }

  private keep(pool: string, locals: readonly Candidate[]): Placement {
    const first = locals[0];
    if (first) this.deps.shares.note(pool, first.source);
    return HERE;
  }

  /** The remote with the largest fleet-wide deficit among `choice` (all from `remotes`). */
  private pass(pool: string, remotes: readonly Candidate[], choice: readonly Candidate[]): Placement {
    let pick = choice[0];
    if (choice.length > 1) {
      const counts = this.deps.shares.fleet(pool, this.deps.live());
      const weights = remotes.reduce((s, c) => s + c.weight, 0);
      const total = remotes.reduce((s, c) => s + (counts.get(c.source) ?? 0), 0) + 1;
      const deficit = (c: Candidate) => (c.weight / weights) * total - (counts.get(c.source) ?? 0);
      pick = choice.reduce((a, b) => (deficit(b) > deficit(a) ? b : a));
    }
    if (!pick?.peer) return HERE;
    this.deps.shares.note(pool, pick.source);
    return { kind: 'peer', node: pick.peer.id, source: pick.source, pool };
  }

  /**
   * Passes the item's recipients to `to.node`; resolves with those the peer took (after
   * its 250). Rejects when the peer is not live any more or does not take the message:
   * it is then passed over for a few seconds.
   */
  async send(item: QueueItem, to: { readonly node: string; readonly source: string; readonly pool: string }): Promise<readonly string[]> {
    const peer = this.deps.peers.peer(to.node);
    const env = item.envelope;
    try {
      if (!peer) throw new Error(`node ${to.node} is not live or has no cluster listener`);
      const body = await this.deps.readBody(env.id);
      const receipt = await this.deps.send(peer, handoffFacts(this.deps.self, item, to.pool), body);
      const refused = new Set(receipt.refused);
      const took = item.rcpts.filter((r) => !refused.has(r));
      this.deps.log.info({ event: 'handoff_sent', queue_id: env.id, to: to.node, source: to.source, pool: to.pool, rcpts: took.length, refused: refused.size, reply: receipt.reply }, `handed ${env.id} to ${to.node} (source ${to.source})`);
      return took;
    } catch (err) {
      this.suspect.set(to.node, this.deps.now() + SUSPECT_MS);
      this.deps.log.warn({ event: 'handoff_failed', queue_id: env.id, to: to.node, source: to.source, pool: to.pool, err }, `handoff of ${env.id} to ${to.node} failed; routed again in a moment`);
      throw err;
    }
  }
}

const HERE: Placement = { kind: 'here' };

/** What travels with a handed-off item: its envelope for these recipients and pool, its history so far. */
export function handoffFacts(self: string, item: QueueItem, pool: string): PeerFacts {
  const env = item.envelope;
  const mark = env.peer;
  const envelope: Envelope = {
    id: env.id,
    mailFrom: env.mailFrom,
    rcpts: item.rcpts,
    receivedAt: env.receivedAt,
    class: env.class,
    pool,
    priority: env.priority,
    campaign: env.campaign,
    messageId: env.messageId,
    authUser: env.authUser,
    clientAddress: env.clientAddress,
    routeHeaders: env.routeHeaders,
    isDsn: env.isDsn,
    ...(env.sendAt !== undefined ? { sendAt: env.sendAt } : {}),
  };
  return {
    v: 1,
    kind: 'handoff',
    origin: mark?.origin ?? self,
    queueId: env.id,
    envelope,
    attempts: Object.fromEntries(item.rcpts.map((r) => [r, item.attempts + (mark?.attempts[r] ?? 0)])),
    done: [],
    hops: mark?.hops ?? 0,
    ...(mark?.trace ? { trace: mark.trace } : {}),
    ...(mark?.fbl ? { fbl: mark.fbl } : {}),
  };
}
