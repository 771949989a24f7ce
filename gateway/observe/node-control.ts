/**
 * The node's side of the admin API (observe/admin-control.ts): reads status from the
 * queue, routing and state, and acts through holds, the scheduler and the suppression
 * store. Every action is logged with who asked.
 */
import { AdminError, type AdminControl, type ClusterStatus, type ConfigRolloutView, type FleetView, type NodeStatus, type DrainResult, type FlushResult, type HoldView, type ProviderStatus, type ProviderTotal, type ReloadResult, type SourceStatus } from './admin-control.js';
import type { Clock, Hold, HoldsByTarget, NodeInfo, Rate, StateBackend, SuppressionEntry, SuppressionReason, SuppressionStore } from '../state/types.js';
import type { Config } from '../config/schema.js';
import type { Logger } from './logger.js';
import type { Observer } from './observer.js';
import { memberSource } from '../config/schema.js';
import { formatRate, rateGuarantee } from '../config/rate-text.js';

export const VERSION = '0.1.0';

/** What admin control reads and acts through: narrow views of the parts, never the node. */
export interface ControlPorts {
  /** `[cluster] config = "redis"`: the version running and the last one refused (null: "file" mode). */
  readonly configRollout?: () => ConfigRolloutView | null;
  readonly nodeId: string;
  readonly hostname: string;
  readonly startedAt: number;
  /** The config in force (a reload replaces it). */
  readonly config: () => Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly state: { readonly kind: StateBackend['kind']; readonly suppression: SuppressionStore; healthy(): boolean };
  /** The fleet ([cluster]); null on a single node. */
  readonly fleet: FleetView | null;
  readonly holds: HoldsByTarget;
  /** Warm-up as the config in force has it; `day` is the day its counts are for. */
  readonly warmup: () => { cap(source: string): number | null; used(source: string): Promise<number>; day(): string };
  /** A provider's limits as the scheduler resolves them (keys it leaves out come from [providers.default]). */
  readonly providerLimits: (name: string) => ProviderLimitsView;
  /** The queue rows live peers published (cluster/fleet-board.ts). */
  readonly peerQueues: (live: readonly NodeInfo[]) => readonly QueueRow[];
  readonly queue: { readonly depth: number; queueRows(): QueueRow[]; pump(): void; flush(): number };
  readonly openConnections: () => readonly { source: string; provider: string; open: number }[];
  /** Where hold changes are reported (events, metrics): the observer's `held`, `lifted` and `poolHold`. */
  readonly holdEvents: Pick<Observer, 'held' | 'lifted' | 'poolHold'>;
  /** The node's lifecycle: reload, maintenance drain. */
  readonly lifecycle: {
    reload(by: string): Promise<ReloadResult>;
    drain(by: string, handoff: boolean): number;
    undrain(by: string): boolean;
    readonly draining: boolean;
    readonly maintenance: { readonly since: number; readonly by: string; readonly handoff: boolean } | null;
  };
}

/** Recipients per (pool, provider) and the oldest one's age. */
export interface QueueRow {
  readonly pool: string;
  readonly provider: string;
  readonly depth: number;
  readonly oldestSeconds: number;
}

export interface ProviderLimitsView {
  readonly maxConnections: number;
  readonly maxMessageRate: Rate | null;
  readonly totalMaxConnections: number | null;
  readonly totalMaxMessageRate: Rate | null;
}

export class NodeControl implements AdminControl {
  constructor(private readonly node: ControlPorts) {}

  private holdView(h: Hold | null): HoldView | null {
    return h ? { reason: h.reason, by: h.by, until: h.until === null ? null : new Date(h.until).toISOString() } : null;
  }

  async status(): Promise<ClusterStatus> {
    const n = this.node;
    const rollout = n.configRollout?.() ?? null;
    const live = n.fleet?.live() ?? [];
    // This node's own version from its rollout (its heartbeat may be a beat behind); peers' from theirs.
    const own = rollout ? { config_version: rollout.version, config_failed: rollout.failed?.version ?? null } : { config_version: null, config_failed: null };
    const nodes: NodeStatus[] = (n.fleet?.members() ?? [])
      .filter((m) => m.live || m.id !== n.nodeId)
      .map((m) => ({
        id: m.id,
        address: m.info?.address ?? '',
        live: m.live,
        self: m.id === n.nodeId,
        version: m.info?.version ?? '',
        started_at: m.live ? (m.info?.startedAt ?? null) : null,
        draining: m.info?.draining ?? false,
        cluster: m.info?.cluster ?? null,
        down_since: m.downSince === null ? null : new Date(m.downSince).toISOString(),
        load: m.info?.load ?? null,
        ...(m.id === n.nodeId ? own : { config_version: m.info?.configVersion ?? null, config_failed: m.info?.configFailed ?? null }),
      }));
    // Before its own heartbeat is read back (or on a single node) the node lists itself.
    if (!nodes.some((x) => x.self)) nodes.unshift({ id: n.nodeId, address: n.hostname, live: true, self: true, version: VERSION, started_at: n.startedAt, draining: n.lifecycle.draining, cluster: null, down_since: null, load: null, ...own });
    return {
      node: n.nodeId,
      version: VERSION,
      config: rollout ? { source: 'redis', version: rollout.version, failed: rollout.failed, latest: rollout.latest } : { source: 'file', version: null, failed: null, latest: null },
      started_at: n.startedAt,
      state_backend: n.state.kind,
      state_healthy: n.state.healthy(),
      draining: n.lifecycle.draining,
      queued_here: n.queue.depth,
      nodes,
      share: n.fleet?.share() ?? 1,
      pools: Object.entries(n.config().pools).map(([name, p]) => {
        const held = this.holdView(n.holds.held({ kind: 'pool', pool: name }));
        return { name, sources: p.sources.map(memberSource), held, paused: held };
      }),
      queue: mergeQueues([...n.queue.queueRows(), ...n.peerQueues(live)]),
    };
  }

  async sources(): Promise<readonly SourceStatus[]> {
    const n = this.node;
    const out: SourceStatus[] = [];
    const holds = n.holds.all();
    const open = n.openConnections();
    for (const [name, s] of Object.entries(n.config().sources)) {
      const cap = n.warmup().cap(name);
      const used = cap === null ? 0 : await n.warmup().used(name).catch(() => 0);
      const held = this.holdView(n.holds.held({ kind: 'source', source: name }));
      const heldToward = holds.flatMap(({ target, hold }) => (target.kind === 'source-provider' && target.source === name ? [{ provider: target.provider, ...(this.holdView(hold) as HoldView) }] : []));
      out.push({
        name,
        ip: s.ip,
        ehlo: s.ehlo,
        node: s.node ?? null,
        // A source on a down node is skipped by every pool until that node beats again.
        node_live: s.node === undefined || s.node === n.nodeId || (n.fleet?.live().some((x) => x.id === s.node) ?? false),
        pools: Object.entries(n.config().pools).filter(([, p]) => p.sources.some((m) => memberSource(m) === name)).map(([p]) => p),
        held,
        held_toward: heldToward,
        paused: held,
        suspended: heldToward,
        warmup: cap === null ? null : { schedule: s.warmup ?? '', day: n.warmup().day(), used, cap },
        connections: open.filter((c) => c.source === name).reduce((a, c) => a + c.open, 0),
      });
    }
    return out;
  }

  async providers(): Promise<readonly ProviderStatus[]> {
    const n = this.node;
    const rows = n.queue.queueRows();
    const open = n.openConnections();
    const holds = n.holds.all();
    const names = [...new Set([...Object.keys(n.config().providers), 'default'])];
    return names.map((name) => {
      // As the scheduler resolves them: keys a provider leaves out come from [providers.default].
      const limits = n.providerLimits(name);
      const hasTotal = name !== 'default' && n.config().providers[name]?.total !== undefined;
      const mine = rows.filter((r) => r.provider === name);
      const heldSources = holds.flatMap(({ target, hold }) => (target.kind === 'source-provider' && target.provider === name ? [{ source: target.source, ...(this.holdView(hold) as HoldView) }] : []));
      return {
        name,
        max_connections: limits.maxConnections,
        ...rateView(limits.maxMessageRate),
        total: hasTotal ? { max_connections: limits.totalMaxConnections, ...rateView(limits.totalMaxMessageRate) } : null,
        connections: open.filter((c) => c.provider === name).reduce((a, c) => a + c.open, 0),
        queue_depth: mine.reduce((a, r) => a + r.depth, 0),
        oldest_seconds: Math.max(0, ...mine.map((r) => r.oldestSeconds)),
        held: this.holdView(n.holds.held({ kind: 'provider', provider: name })),
        held_sources: heldSources,
        suspended: heldSources,
      };
    });
  }

  private source(name: string): void {
    if (!Object.hasOwn(this.node.config().sources, name)) throw AdminError.notFound('source', name);
  }

  private pool(name: string): void {
    if (!Object.hasOwn(this.node.config().pools, name)) throw AdminError.notFound('pool', name);
  }

  // Log lines and events say held / lifted (README "Words"); before, source_paused,
  // source_suspended, source_resumed, pool_paused and pool_resumed.
  async holdSource(name: string, reason: string, by: string): Promise<void> {
    this.source(name);
    await this.node.holds.set({ kind: 'source', source: name }, { reason, until: null, by });
    this.node.log.warn({ event: 'source_held', source: name, provider: null, reason, until: null, by }, 'source held');
    this.node.holdEvents.held({ source: name, reason: 'admin', by });
  }

  async liftSource(name: string, by: string): Promise<void> {
    this.source(name);
    await this.node.holds.lift({ kind: 'source', source: name });
    for (const { target } of this.node.holds.all()) if (target.kind === 'source-provider' && target.source === name) await this.node.holds.lift(target);
    this.node.log.info({ event: 'source_lifted', source: name, by }, 'source lifted');
    this.node.holdEvents.lifted({ source: name, reason: 'admin', by });
    this.node.queue.pump();
  }

  async holdPool(name: string, reason: string, by: string): Promise<void> {
    this.pool(name);
    await this.node.holds.set({ kind: 'pool', pool: name }, { reason, until: null, by });
    this.node.log.warn({ event: 'pool_held', pool: name, reason, by }, 'pool held');
    this.node.holdEvents.poolHold('pool_held', { pool: name, reason: 'admin', by });
  }

  async liftPool(name: string, by: string): Promise<void> {
    this.pool(name);
    await this.node.holds.lift({ kind: 'pool', pool: name });
    this.node.log.info({ event: 'pool_lifted', pool: name, by }, 'pool lifted');
    this.node.holdEvents.poolHold('pool_lifted', { pool: name, reason: 'admin', by });
    this.node.queue.pump();
  }

  async holdSourceToward(name: string, provider: string, ms: number, reason: string, by: string): Promise<void> {
    this.source(name);
    const until = this.node.clock.now() + ms;
    await this.node.holds.set({ kind: 'source-provider', source: name, provider }, { reason, until, by });
    this.node.log.warn({ event: 'source_held', source: name, provider, reason, until: new Date(until).toISOString(), by }, `source held for ${provider}`);
    this.node.holdEvents.held({ source: name, provider, reason: 'admin', by, until });
  }

  flushQueue(by: string): FlushResult {
    const flushed = this.node.queue.flush();
    this.node.log.info({ event: 'queue_flushed', flushed, by }, 'queue flushed');
    return { flushed };
  }

  async addSuppression(address: string, reason: SuppressionReason, by: string): Promise<boolean> {
    const added = await this.node.state.suppression.add([{ address: address.toLowerCase(), reason, source: by, at: this.node.clock.now() }]);
    this.node.log.info({ event: 'suppression_added', address, reason, by }, 'suppression added');
    return added > 0;
  }

  async removeSuppression(address: string, by: string): Promise<boolean> {
    const removed = await this.node.state.suppression.remove([address.toLowerCase()]);
    this.node.log.info({ event: 'suppression_removed', address, by }, 'suppression removed');
    return removed > 0;
  }

  checkSuppression(address: string): Promise<SuppressionEntry | null> {
    return this.node.state.suppression.check(address.toLowerCase());
  }

  async reload(by: string): Promise<ReloadResult> {
    try {
      return await this.node.lifecycle.reload(by);
    } catch (err) {
      throw new AdminError('INVALID', (err as Error).message, { cause: err });
    }
  }

  drain(by: string, handoff = false): DrainResult {
    let flushed: number;
    try {
      flushed = this.node.lifecycle.drain(by, handoff);
    } catch (err) {
      throw new AdminError('CONFLICT', (err as Error).message, { cause: err });
    }
    return this.drainState(flushed);
  }

  undrain(by: string): DrainResult {
    this.node.lifecycle.undrain(by);
    return this.drainState(0);
  }

  private drainState(flushed: number): DrainResult {
    const m = this.node.lifecycle.maintenance;
    return { draining: this.node.lifecycle.draining, since: m ? new Date(m.since).toISOString() : null, queued: this.node.queue.depth, flushed, handoff: m?.handoff ?? false };
  }
}

/** A rate as /api/providers shows it: the rate as configured, its burst apart, and what it keeps. */
function rateView(rate: Rate | null): Pick<ProviderTotal, 'max_message_rate' | 'max_message_burst' | 'rate_guarantee'> {
  if (!rate) return { max_message_rate: 'unlimited', max_message_burst: null, rate_guarantee: null };
  return { max_message_rate: formatRate({ count: rate.count, periodMs: rate.periodMs }), max_message_burst: rate.burst ?? null, rate_guarantee: rateGuarantee(rate) };
}

/** Queue rows of several nodes summed per (pool, provider); the oldest age is the max. */
function mergeQueues(rows: readonly QueueRow[]): { pool: string; provider: string; depth: number; oldest_seconds: number }[] {
  const by = new Map<string, { pool: string; provider: string; depth: number; oldest_seconds: number }>();
  for (const r of rows) {
    const k = `${r.pool}\u0000${r.provider}`;
    const row = by.get(k) ?? { pool: r.pool, provider: r.provider, depth: 0, oldest_seconds: 0 };
    row.depth += r.depth;
    row.oldest_seconds = Math.max(row.oldest_seconds, r.oldestSeconds);
    by.set(k, row);
  }
  return [...by.values()];
}
