/**
 * Chooses the source a pool sends through to a provider (DESIGN.md "pick source"):
 * smooth weighted round-robin over the pool's members, skipping sources that are held
 * (paused or suspended), at their warm-up cap, or on another node, and taking a
 * connection lease for (source, provider) and for the provider's fleet total.
 */
import type { Config } from '../config/schema.js';
import type { Lease, StateBackend } from '../state/types.js';
import type { ProviderLimits } from '../shaping/providers.js';
import { keys } from '../shaping/keys.js';
import type { HoldCache } from '../shaping/hold-cache.js';
import type { WarmupGate } from '../shaping/warmup-gate.js';
import { IMPLICIT_POOL } from './router.js';

export interface SourceRef {
  readonly name: string;
  readonly ip: string | undefined;
  readonly ehlo: string;
}

export interface Grant {
  readonly source: SourceRef;
  readonly lease: Lease;
  readonly pool: string;
}

export type PickResult =
  | { readonly kind: 'granted'; readonly grant: Grant }
  /** Nothing usable now; try again in `retryMs` (or when a lease is released). */
  | { readonly kind: 'wait'; readonly retryMs: number; readonly reason: string };

export const LEASE_TTL_MS = 60_000;

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
  ) {
    for (const [pool, p] of Object.entries(config.pools)) {
      this.members.set(
        pool,
        p.sources.map((m) => {
          const name = typeof m === 'string' ? m : m.source;
          const s = config.sources[name];
          return { source: { name, ip: s?.ip, ehlo: s?.ehlo ?? defaultEhlo }, weight: typeof m === 'string' ? 1 : m.weight, current: 0 };
        }),
      );
    }
    if (this.members.size === 0) this.members.set(IMPLICIT_POOL, [{ source: { name: 'default', ip: undefined, ehlo: defaultEhlo }, weight: 1, current: 0 }]);
  }

  /** Why each of a pool's sources can or cannot take a connection to `provider` now. */
  usable(pool: string, provider: ProviderLimits): { source: SourceRef; usable: boolean; why: string }[] {
    return (this.members.get(pool) ?? []).map((m) => {
      const why = this.unusableReason(pool, m.source, provider);
      return { source: m.source, usable: why === null, why: why ?? 'usable' };
    });
  }

  async pick(pool: string, provider: ProviderLimits): Promise<PickResult> {
    const members = this.members.get(pool);
    if (!members || members.length === 0) return { kind: 'wait', retryMs: 5_000, reason: `pool ${pool} has no sources` };
    if (this.holds.held(keys.holdPool(pool))) return { kind: 'wait', retryMs: 1_000, reason: `pool ${pool} is paused` };
    const order = this.wrrOrder(members);
    let reason = 'no usable source';
    let busy = false;
    for (const m of order) {
      const why = this.unusableReason(pool, m.source, provider);
      if (why !== null) {
        reason = why;
        continue;
      }
      const claims = [{ key: keys.sourceConnections(m.source.name, provider.key), limit: provider.maxConnections }];
      if (provider.totalMaxConnections !== null) claims.push({ key: keys.providerConnections(provider.key), limit: provider.totalMaxConnections });
      const lease = await this.state.throttle.acquire(claims, LEASE_TTL_MS);
      if (lease) return { kind: 'granted', grant: { source: m.source, lease, pool } };
      busy = true;
      reason = `${m.source.name} at its connection limit for ${provider.name}`;
    }
    return { kind: 'wait', retryMs: busy ? 1_000 : 5_000, reason };
  }

  private unusableReason(pool: string, source: SourceRef, provider: ProviderLimits): string | null {
    const cfg = this.config.sources[source.name];
    if (cfg?.node !== undefined && cfg.node !== this.nodeId) return `${source.name} is held by node ${cfg.node}`;
    if (this.holds.held(keys.holdSource(source.name))) return `${source.name} is paused`;
    if (this.holds.held(keys.holdSourceProvider(source.name, provider.key))) return `${source.name} is suspended for ${provider.name}`;
    if (this.holds.held(keys.holdProvider(provider.key))) return `${provider.name} is suspended for every source`;
    if (this.warmup.exhausted(source.name)) return `${source.name} reached its warm-up cap for today`;
    void pool;
    return null;
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
