/**
 * Fleet membership (`[cluster]`): this node's heartbeat into the shared node registry and
 * the watch that tells which peers are live. A node silent for `failover_after` drops out
 * of the registry (its entry lapses by the Redis clock); the watch polls the registry at
 * least every 500 ms, so every peer sees it leave within `failover_after` + ~0.5 s and
 * calls its onDown listeners (handoff stops choosing it, replica holders take its mail
 * over, alerts fire). When it beats again it is live again and onUp fires: no operator
 * step. The live count sizes this node's share of every fleet limit while Redis is away
 * (state/resilient.ts reads it from the registry calls made here).
 *
 * While the registry cannot be read (Redis away) nobody is declared down, and after it
 * answers again nobody is for `failover_after`: a Redis that restarted empty lists only
 * the nodes that beat since, and a peer's next beat must not look like a rejoin after a
 * failover that never happened.
 */
import type { Clock, NodeInfo, NodeRegistry } from '../state/types.js';

/** How often the registry is read at most: the failover detection delay on top of failover_after. */
export const WATCH_MS = 500;

export interface Member {
  readonly id: string;
  readonly live: boolean;
  /** The latest info seen (live: from its last heartbeat); null for a node named in the config and never seen. */
  readonly info: NodeInfo | null;
  /** Ms since the epoch this node saw it leave; null while it is live or until it is known to be down. */
  readonly downSince: number | null;
}

export interface MembershipLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MembershipDeps {
  readonly self: string;
  readonly registry: NodeRegistry;
  readonly clock: Clock;
  readonly log: MembershipLog;
  readonly heartbeatMs: number;
  readonly failoverAfterMs: number;
  /** This node's heartbeat payload, built at each beat (draining, load, dashboard board...). */
  readonly info: () => NodeInfo;
  /** Node ids the config names (sources' `node`): listed as down when they never beat. */
  readonly expected: () => readonly string[];
  /** False while the shared state does not answer: no down verdicts then. */
  readonly healthy: () => boolean;
  /** Called with the live set after each registry read, before onDown / onUp (the cluster link's peer list). */
  readonly seen?: (live: readonly NodeInfo[]) => void;
}

/** What handoff, replica takeover, status and alerts read: narrow on purpose. */
export interface MembershipView {
  readonly self: string;
  /** Live nodes as last read from the registry (this node included once it has beaten). */
  live(): readonly NodeInfo[];
  isLive(id: string): boolean;
  /** Live and down nodes, by id. */
  members(): readonly Member[];
  /** This node's share of a fleet-wide limit: 1 / live nodes (at least one node: this one). */
  share(): number;
  /** True once the registry has been read for failover_after with Redis answering: a node not live by then is down. */
  settled(): boolean;
  /** Called once per node that leaves (silent for failover_after); returns an unsubscribe. */
  onDown(cb: (member: Member) => void): () => void;
  /** Called when a node that was down (or never seen) beats again. */
  onUp(cb: (info: NodeInfo) => void): () => void;
}

interface Known {
  info: NodeInfo | null;
  live: boolean;
  downSince: number | null;
}

export class Membership implements MembershipView {
  readonly self: string;
  readonly #d: MembershipDeps;
  readonly #known = new Map<string, Known>();
  readonly #down = new Set<(m: Member) => void>();
  readonly #up = new Set<(i: NodeInfo) => void>();
  #live: readonly NodeInfo[] = [];
  /** No down verdicts before this time (start, and failover_after after the registry answers again). */
  #blindUntil = Number.POSITIVE_INFINITY;
  #beat: NodeJS.Timeout | null = null;
  #watch: NodeJS.Timeout | null = null;
  #polling = false;
  #stopped = false;

  constructor(deps: MembershipDeps) {
    this.#d = deps;
    this.self = deps.self;
  }

  start(): void {
    this.#blindUntil = this.#d.clock.now() + this.#d.failoverAfterMs;
    void this.beat();
    this.#beat = setInterval(() => void this.beat(), this.#d.heartbeatMs);
    this.#beat.unref();
    this.#watch = setInterval(() => void this.poll(), Math.min(this.#d.heartbeatMs, WATCH_MS));
    this.#watch.unref();
  }

  /**
   * Stops beating after one last beat (which says draining). The entry is left to lapse:
   * a restart within failover_after is no failover (nothing taken over, nothing to drop
   * after), and a node that stays stopped is down for its peers like a dead one.
   */
  async stop(): Promise<void> {
    if (this.#beat) clearInterval(this.#beat);
    if (this.#watch) clearInterval(this.#watch);
    this.#beat = this.#watch = null;
    await this.#d.registry.heartbeat(this.#d.info(), this.#d.failoverAfterMs).catch(() => undefined);
    this.#stopped = true;
  }

  /** One heartbeat, then a read of the live set. */
  async beat(): Promise<void> {
    if (this.#stopped) return;
    await this.#d.registry.heartbeat(this.#d.info(), this.#d.failoverAfterMs).catch(() => undefined);
    await this.poll();
  }

  /** Reads the registry and fires onDown / onUp for what changed. */
  async poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    try {
      const healthy = this.#d.healthy();
      let live: readonly NodeInfo[];
      try {
        live = await this.#d.registry.live();
      } catch {
        live = this.#live; // no list at all yet (Redis away since start): keep what we have
      }
      const now = this.#d.clock.now();
      // Blind while Redis is away (live() then answers the last list it saw) and for failover_after after.
      if (!healthy || !this.#d.healthy()) this.#blindUntil = Math.max(this.#blindUntil, now + this.#d.failoverAfterMs);
      this.#apply(live, now);
    } finally {
      this.#polling = false;
    }
  }

  #apply(live: readonly NodeInfo[], now: number): void {
    this.#live = live;
    if (this.#d.seen) this.#safe('seen', () => this.#d.seen?.(live));
    const liveIds = new Set(live.map((n) => n.id));
    for (const info of live) {
      const k = this.#known.get(info.id);
      this.#known.set(info.id, { info, live: true, downSince: null });
      if (k && !k.live && info.id !== this.self) this.#rejoined(info, k, now);
    }
    for (const id of this.#d.expected()) if (!this.#known.has(id)) this.#known.set(id, { info: null, live: false, downSince: null });
    const blind = now < this.#blindUntil;
    for (const [id, k] of this.#known) {
      if (liveIds.has(id) || id === this.self) continue;
      if (k.live) k.live = false;
      if (blind || k.downSince !== null) continue;
      k.downSince = now;
      this.#left(id, k);
    }
  }

  #left(id: string, k: Known): void {
    const member = this.#member(id, k);
    this.#d.log.warn({ event: 'node_down', node: id, failover_after_ms: this.#d.failoverAfterMs, live: this.#live.map((n) => n.id) }, `node ${id} is down: no heartbeat for ${this.#d.failoverAfterMs} ms; it leaves every pool until it beats again`);
    for (const cb of this.#down) this.#safe('onDown', () => cb(member));
  }

  #rejoined(info: NodeInfo, k: Known, now: number): void {
    if (k.downSince === null) return; // seen again before being declared down: nothing changed for anyone
    this.#d.log.info({ event: 'node_up', node: info.id, down_s: Math.round((now - k.downSince) / 1000) }, `node ${info.id} is back`);
    for (const cb of this.#up) this.#safe('onUp', () => cb(info));
  }

  /** A listener that throws must not stop the others nor the watch. */
  #safe(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#d.log.warn({ err, listener: what }, `a membership ${what} listener failed`);
    }
  }

  #member(id: string, k: Known): Member {
    return { id, live: k.live, info: k.info, downSince: k.downSince };
  }

  live(): readonly NodeInfo[] {
    return this.#live;
  }

  isLive(id: string): boolean {
    return this.#live.some((n) => n.id === id);
  }

  members(): readonly Member[] {
    return [...this.#known].map(([id, k]) => this.#member(id, k)).sort((a, b) => a.id.localeCompare(b.id));
  }

  share(): number {
    return 1 / Math.max(1, this.#live.length);
  }

  settled(): boolean {
    return this.#d.clock.now() >= this.#blindUntil;
  }

  onDown(cb: (member: Member) => void): () => void {
    this.#down.add(cb);
    return () => this.#down.delete(cb);
  }

  onUp(cb: (info: NodeInfo) => void): () => void {
    this.#up.add(cb);
    return () => this.#up.delete(cb);
  }
}
