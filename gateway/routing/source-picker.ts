/**
 * Chooses the source a pool sends through to a provider (DESIGN.md "pick source"):
 * smooth weighted round-robin over the pool's members, skipping sources that are held
 * (by an operator, a response rule or the health monitor), at their warm-up cap, or on another
 * node, and taking a connection lease for (source, provider) and for the provider's
 * fleet total. When every source of the pool on this node is at its cap or held, the
 * pool's `overflow` pool sends instead; with no overflow, capped mail waits for the next
 * UTC day.
 */
import { memberSource, type Config } from '../config/schema.js';
import { systemClock, type Clock, type LeaseClaim, type StateBackend } from '../state/types.js';
import type { ProviderLimits } from '../shaping/providers.js';
import { keys } from '../shaping/keys.js';
import type { HoldCache } from '../shaping/hold-cache.js';
import type { WarmupGate } from '../shaping/warmup-gate.js';
import { IMPLICIT_POOL } from './router.js';
// The picker answers the delivery agent's port: its result types are defined there, where they are consumed.
import type { PickResult, SourceRef } from '../delivery/agent-ports.js';

export type SourceStatus =
  | { readonly kind: 'usable' }
  | { readonly kind: 'elsewhere'; readonly why: string }
  | { readonly kind: 'held'; readonly why: string; readonly until: number | null }
  | { readonly kind: 'capped'; readonly why: string };

export interface MemberView {
  readonly source: SourceRef;
  readonly weight: number;
  readonly status: SourceStatus;
}

/** The lease TTL of a single node (embedded state: no other node waits on a lapse). */
export const LEASE_TTL_MS = 60_000;

/** A connection lease's TTL: `[cluster] lease_ttl`, or LEASE_TTL_MS on one node. Renewed every third of it. */
export function leaseTtl(config: Config): number {
  return config.cluster?.lease_ttl ?? LEASE_TTL_MS;
}
/** A held source is looked at again this often at most (an admin may lift a hold any time). */
const HOLD_RECHECK_MS = 5_000;
/** Every source busy: look again this often, or sooner when a session releases its lease. */
const BUSY_RECHECK_MS = 1_000;

interface Member {
  readonly source: SourceRef;
  readonly weight: number;
  current: number;
}

export class SourcePicker {
  private readonly members = new Map<string, Member[]>();

  constructor(
    private readonly config: Config,
    private readonly state: StateBackend,
    private readonly holds: HoldCache,
    private readonly warmup: WarmupGate,
    private readonly nodeId: string,
    defaultEhlo: string,
    private readonly clock: Clock = systemClock,
  ) {
    for (const [pool, p] of Object.entries(config.pools)) {
      this.members.set(
        pool,
        p.sources.map((m) => {
          const name = memberSource(m);
          const s = config.sources[name];
          return { source: { name, ip: s?.ip, ehlo: s?.ehlo ?? defaultEhlo }, weight: typeof m === 'string' ? 1 : m.weight, current: 0 };
        }),
      );
    }
    if (this.members.size === 0) this.members.set(IMPLICIT_POOL, [{ source: { name: 'default', ip: undefined, ehlo: defaultEhlo }, weight: 1, current: 0 }]);
  }

  /** Each source of a pool and whether it can take a connection to `provider` now (leases aside). */
  describe(pool: string, provider: ProviderLimits): MemberView[] {
    return (this.members.get(pool) ?? []).map((m) => ({ source: m.source, weight: m.weight, status: this.status(m.source.name, provider) }));
  }

  /** The lease claims a connection from `source` to `provider` takes. */
  claims(source: string, provider: ProviderLimits): LeaseClaim[] {
    const claims = [{ key: keys.sourceConnections(source, provider.key), limit: provider.maxConnections }];
    if (provider.totalMaxConnections !== null) claims.push({ key: keys.providerConnections(provider.key), limit: provider.totalMaxConnections });
    return claims;
  }

  /**
   * The most sessions a queue of `pool` can use toward `provider` at once: each source on
   * this node (its overflow pools' too) up to its limit, within the fleet total.
   */
  maxSessions(pool: string, provider: ProviderLimits): number {
    const sources = new Set<string>();
    const seen = new Set<string>();
    for (let p: string | undefined = pool; p !== undefined && !seen.has(p); p = this.config.pools[p]?.overflow) {
      seen.add(p);
      for (const m of this.members.get(p) ?? []) if (this.status(m.source.name, provider).kind !== 'elsewhere') sources.add(m.source.name);
    }
    return Math.max(1, Math.min(sources.size * provider.maxConnections, provider.totalMaxConnections ?? Infinity));
  }

  /** True while `pool` is held (sessions already open stop at the next message). */
  poolHeld(pool: string): boolean {
    return this.holds.held(keys.holdPool(pool)) !== null;
  }

  async pick(pool: string, provider: ProviderLimits): Promise<PickResult> {
    return this.pickIn(pool, provider, [pool]);
  }

  private async pickIn(pool: string, provider: ProviderLimits, path: readonly string[]): Promise<PickResult> {
    const now = this.clock.now();
    const members = this.members.get(pool);
    if (!members || members.length === 0) return wait(HOLD_RECHECK_MS, `pool ${pool} has no sources`);
    const poolHold = this.holds.held(keys.holdPool(pool));
    if (poolHold) return wait(holdRetry(poolHold.until, now), `pool ${pool} is held: ${poolHold.reason}`, true);
    let local = 0;
    let stuck = 0;
    let capped = 0;
    let retryMs = HOLD_RECHECK_MS;
    const busy: string[] = [];
    const reasons: string[] = [];
    for (const m of this.wrrOrder(members)) {
      const st = this.status(m.source.name, provider);
      if (st.kind !== 'elsewhere') local++;
      if (st.kind === 'held' || st.kind === 'capped') {
        stuck++;
        if (st.kind === 'capped') capped++;
        else retryMs = Math.min(retryMs, holdRetry(st.until, now));
      }
      if (st.kind !== 'usable') {
        reasons.push(st.why);
        continue;
      }
      const claims = this.claims(m.source.name, provider);
      const lease = await this.state.throttle.acquire(claims, leaseTtl(this.config));
      if (lease) return { kind: 'granted', grant: { source: m.source, lease, pool, overflowFrom: null } };
      busy.push(...claims.map((c) => c.key));
      reasons.push(`${m.source.name} is at its connection limit for ${provider.name}`);
    }
    const reason = `pool ${pool}: ${reasons.join('; ')}`;
    if (local > 0 && stuck === local) {
      const overflow = this.config.pools[pool]?.overflow;
      if (overflow !== undefined && !path.includes(overflow)) {
        const r = await this.pickIn(overflow, provider, [...path, overflow]);
        if (r.kind === 'granted') return { kind: 'granted', grant: { ...r.grant, overflowFrom: r.grant.overflowFrom ?? pool } };
        const both = `${reason}; overflow ${r.reason}`;
        if (r.kind === 'capped' && capped === local) return { kind: 'capped', until: r.until, reason: both };
        if (r.kind === 'wait') return { kind: 'wait', retryMs: Math.min(retryMs, r.retryMs), reason: both, waitingFor: r.waitingFor, ...(r.held && capped < local ? { held: true as const } : {}) };
        return wait(retryMs, both);
      }
      if (capped === local) return { kind: 'capped', until: this.warmup.nextDayAt(), reason };
      // Every local source held (some may be capped): the mail is held.
      if (capped < local) return wait(retryMs, reason, true);
    }
    if (busy.length > 0) return { kind: 'wait', retryMs: BUSY_RECHECK_MS, reason, waitingFor: busy };
    return wait(retryMs, reason);
  }

  /** Why a source can or cannot send to `provider` now (connection leases aside). */
  status(source: string, provider: ProviderLimits): SourceStatus {
    const cfg = this.config.sources[source];
    if (cfg?.node !== undefined && cfg.node !== this.nodeId) return { kind: 'elsewhere', why: `${source} is held by node ${cfg.node}` };
    return this.standing(source, provider);
  }

  /**
   * Whether `source` may send to `provider` now by the fleet-wide holds (and, for a source
   * on this node, its warm-up cap), wherever it lives: what a handoff asks of a peer's source.
   */
  standing(source: string, provider: ProviderLimits): Exclude<SourceStatus, { kind: 'elsewhere' }> {
    const scopes: [string, string][] = [
      [keys.holdSource(source), 'is held'],
      [keys.holdSourceProvider(source, provider.key), `is held for ${provider.name}`],
      [keys.holdProvider(provider.key), `cannot send: ${provider.name} is held for every source`],
    ];
    // Health holds name the provider ("default" for unmatched sites), response rules its key.
    if (provider.key !== provider.name) scopes.splice(2, 0, [keys.holdSourceProvider(source, provider.name), `is held for ${provider.name}`]);
    for (const [scope, what] of scopes) {
      const h = this.holds.held(scope);
      if (h) return { kind: 'held', why: `${source} ${what} (${h.reason}; ${h.until === null ? 'until lifted' : `until ${new Date(h.until).toISOString()}`})`, until: h.until };
    }
    if (this.warmup.exhausted(source)) return { kind: 'capped', why: `${source} reached its warm-up cap for today` };
    return { kind: 'usable' };
  }

  /** Smooth weighted round-robin (as nginx): every member once, the heaviest-due first. */
  private wrrOrder(members: Member[]): Member[] {
    let total = 0;
    let best: Member | undefined;
    for (const m of members) {
      m.current += m.weight;
      total += m.weight;
      if (!best || m.current > best.current) best = m;
    }
    if (!best) return [];
    best.current -= total;
    return [best, ...members.filter((m) => m !== best)];
  }
}

function wait(retryMs: number, reason: string, held = false): PickResult {
  return { kind: 'wait', retryMs, reason, waitingFor: [], ...(held ? { held } : {}) };
}

function holdRetry(until: number | null, now: number): number {
  return until === null ? HOLD_RECHECK_MS : Math.max(50, Math.min(HOLD_RECHECK_MS, until - now));
}
