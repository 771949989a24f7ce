/**
 * The handoff (docs/CLUSTER.md "Handoff"): where a routed queue item leaves from when its
 * pool's sources live on several nodes. A source's `node` says which node holds its IP;
 * a node sends only from its own. For each item the scheduler routes, `place` answers:
 *
 * - here: a usable source of the pool is on this node and the pool's fleet-wide split
 *   (cluster-fair weights, pool-shares.ts) does not need this message elsewhere, or the
 *   pool is held (it waits here as on one node), or nothing anywhere can send now but
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
import type { HandoffRecord } from '../observe/event-types.js';
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
  /** Whether a pool is held fleet-wide. */
  readonly poolHeld: (pool: string) => boolean;
  readonly peers: PeerDirectory;
  /** The live nodes as membership last read them (their published shares). */
  readonly live: () => readonly NodeInfo[];
  readonly shares: PoolShares;
  readonly send: (peer: PeerAddress, facts: PeerFacts, body: Buffer) => Promise<PeerReceipt>;
  readonly readBody: (id: string) => Promise<Buffer>;
  readonly log: Logger;
  readonly now: () => number;
  /** The event log and webhooks: a `handed_off` record per handoff (GET /api/messages/ID follows the message with it). */
  readonly publish?: (record: HandoffRecord) => void;
}

/** Route again this soon when no peer can take an item now. */
export const HANDOFF_LATER_MS = 3_000;
/** A peer whose send failed is not chosen for this long (it may be dying: failover_after tells). */
const SUSPECT_MS = 3_000;
/**
 * A node whose fleet-wide target is at least this fraction of what enters it keeps all of
 * it (its sources then carry at most 1 / 0.93, 7.5 %, over their share): traffic that
 * enters every node about evenly is not passed around for the noise in the counts.
 */
const KEEP_ALL_ABOVE = 0.93;
/** Below this many messages entered in the window, a node has no basis to move mail and keeps it. */
const MIN_ENTERED = 20;

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
      if (remotes.length === 0 && locals.length === 0) continue; // nothing usable in this pool anywhere: its overflow, as the picker does
      if (!passedOn) this.deps.shares.entered(p);
      if (remotes.length === 0) return this.keep(p, locals);
      // The fleet's figures are read once per decision: keeps() and pass() share them.
      const fleet = this.fleetTargets(p, locals, remotes);
      if (locals.length === 0 || !this.keeps(p, fleet)) {
        // With a usable source here, a message goes only to a peer short of its target:
        // passing to one that is not would only make it pass more (mail going round).
        const passed = this.pass(p, fleet, remotes, locals.length > 0);
        if (passed) return passed;
      }
      return this.keep(p, locals);
    }
    // Nothing usable now in the whole chain.
    if (ownsAny || this.draining) return HERE;
    return { kind: 'later', retryMs: HANDOFF_LATER_MS, why: `no live node holding a source of pool ${pool} can take it now` };
  }

  /**
   * Cluster-fair weights: whether this node keeps this message of `pool`. Its target is its
   * usable sources' weight share of all the pool's traffic that entered the live nodes; it
   * keeps the fraction target / entered of what enters it (all of it when that is near or
   * above 1) and passes the rest.
   *
   * What peers passed here is not set against the target: tried, it made mail go round
   * (a node that received kept less and passed more, so its peers received and passed
   * more: 275 and 294 messages each way between two nodes of three in the replicas bench,
   * with traffic entering all three evenly).
   */
  private keeps(pool: string, fleet: FleetTargets): boolean {
    const entered = fleet.entries.get(this.deps.self) ?? 0;
    if (entered < MIN_ENTERED) return true; // too little entered yet to move mail for
    const fraction = fleet.target(this.deps.self) / entered;
    if (fraction >= KEEP_ALL_ABOVE) return true;
    const mine = this.deps.shares.local(pool);
    return mine.kept < fraction * mine.entered;
  }

  /** The pool's entries per live node and each node's target: its usable weight's share of them all. */
  private fleetTargets(pool: string, locals: readonly Candidate[], remotes: readonly Candidate[]): FleetTargets {
    const entries = this.deps.shares.fleet(pool, this.deps.live());
    const weightOf = new Map<string, number>([[this.deps.self, locals.reduce((s, c) => s + c.weight, 0)]]);
    for (const c of remotes) if (c.peer) weightOf.set(c.peer.id, (weightOf.get(c.peer.id) ?? 0) + c.weight);
    const weights = [...weightOf.values()].reduce((s, w) => s + w, 0);
    const total = [...entries.values()].reduce((s, n) => s + n, 0);
    return { entries, weightOf, target: (node: string) => (weights > 0 ? ((weightOf.get(node) ?? 0) / weights) * total : 0) };
  }

  /** Kept here: on the local source furthest below its weight in what this node placed. */
  private keep(pool: string, locals: readonly Candidate[]): Placement {
    const pick = leastPlaced(this.deps.shares.local(pool), locals);
    this.deps.shares.kept(pool, pick.source);
    return HERE;
  }

  /**
   * Passed to a peer: among the nodes that get less than their target from what enters
   * them, the one this node sent least to for the size of that gap (by weight when no gap
   * is known), then that node's source furthest below its weight in what this node placed.
   * Null when `onlyShort` and no node is short: the message is better kept.
   */
  private pass(pool: string, fleet: FleetTargets, remotes: readonly Candidate[], onlyShort: boolean): Placement | null {
    const mine = this.deps.shares.local(pool);
    const nodes = [...new Set(remotes.flatMap((c) => (c.peer ? [c.peer.id] : [])))];
    const gap = (node: string) => fleet.target(node) - (fleet.entries.get(node) ?? 0);
    const short = nodes.filter((n) => gap(n) > 0);
    if (short.length === 0 && onlyShort) return null;
    const node = short.length > 0
      ? short.reduce((a, b) => ((mine.passedTo(b) + 1) / gap(b) < (mine.passedTo(a) + 1) / gap(a) ? b : a))
      : nodes.reduce((a, b) => ((mine.passedTo(b) + 1) / (fleet.weightOf.get(b) ?? 1) < (mine.passedTo(a) + 1) / (fleet.weightOf.get(a) ?? 1) ? b : a));
    const pick = leastPlaced(mine, remotes.filter((c) => c.peer?.id === node));
    if (!pick.peer) return HERE;
    this.deps.shares.passed(pool, pick.peer.id, pick.source);
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
    const began = this.deps.now();
    try {
      if (!peer) throw new Error(`node ${to.node} is not live or has no cluster listener`);
      const body = await this.deps.readBody(env.id);
      const receipt = await this.deps.send(peer, handoffFacts(this.deps.self, item, to.pool), body);
      const refused = new Set(receipt.refused);
      const took = item.rcpts.filter((r) => !refused.has(r));
      this.deps.log.info({ event: 'handoff_sent', queue_id: env.id, to: to.node, source: to.source, pool: to.pool, rcpts: took.length, refused: refused.size, reply: receipt.reply }, `handed ${env.id} to ${to.node} (source ${to.source})`);
      if (took.length > 0) {
        const peerId = /queued as (\S+)/.exec(receipt.reply)?.[1] ?? null;
        this.deps.publish?.({ event: 'handed_off', at: new Date(began).toISOString(), node: this.deps.self, queue_id: env.id, message_id: env.messageId, recipients: took, to: to.node, to_queue_id: peerId, source: to.source, pool: to.pool, reply: receipt.reply });
      }
      return took;
    } catch (err) {
      this.suspect.set(to.node, this.deps.now() + SUSPECT_MS);
      this.deps.log.warn({ event: 'handoff_failed', queue_id: env.id, to: to.node, source: to.source, pool: to.pool, err }, `handoff of ${env.id} to ${to.node} failed; routed again in a moment`);
      throw err;
    }
  }
}

const HERE: Placement = { kind: 'here' };

/** A pool's entries per live node, each node's usable weight, and its target share of the entries. */
interface FleetTargets {
  readonly entries: ReadonlyMap<string, number>;
  readonly weightOf: ReadonlyMap<string, number>;
  target(node: string): number;
}

/** Of `list` (not empty), the source furthest below its weight in what this node placed on it. */
function leastPlaced(mine: { placedOn(source: string): number }, list: readonly Candidate[]): Candidate {
  const load = (c: Candidate) => (mine.placedOn(c.source) + 1) / c.weight;
  return list.reduce((a, b) => (load(b) < load(a) ? b : a));
}

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
