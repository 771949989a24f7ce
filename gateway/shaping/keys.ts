import type { Hold, HoldsByTarget, HoldTarget } from '../state/types.js';

/** Names of the shared counters, built in one place so every backend and node agrees. */
export const keys = {
  sourceConnections: (source: string, provider: string) => `conn:${source}:${provider}`,
  providerConnections: (provider: string) => `conn-total:${provider}`,
  sourceRate: (source: string, provider: string) => `rate:${source}:${provider}`,
  providerRate: (provider: string) => `rate-total:${provider}`,
  holdSource: (source: string) => `source:${source}`,
  holdPool: (pool: string) => `pool:${pool}`,
  holdSourceProvider: (source: string, provider: string) => `source-provider:${source}:${provider}`,
  holdProvider: (provider: string) => `provider:${provider}`,
} as const;

/** The scope string of a hold on `target` (what the hold store keys it by). */
export function holdScope(target: HoldTarget): string {
  switch (target.kind) {
    case 'source':
      return keys.holdSource(target.source);
    case 'pool':
      return keys.holdPool(target.pool);
    case 'source-provider':
      return keys.holdSourceProvider(target.source, target.provider);
    case 'provider':
      return keys.holdProvider(target.provider);
  }
}

/** What a hold scope stops; null for a scope no version of Sluice writes. */
export function parseHoldScope(scope: string): HoldTarget | null {
  const colon = scope.indexOf(':');
  if (colon < 0) return null;
  const kind = scope.slice(0, colon);
  const rest = scope.slice(colon + 1);
  switch (kind) {
    case 'source':
      return { kind, source: rest };
    case 'pool':
      return { kind, pool: rest };
    case 'provider':
      return { kind, provider: rest };
    case 'source-provider': {
      const at = rest.indexOf(':');
      return at < 0 ? null : { kind, source: rest.slice(0, at), provider: rest.slice(at + 1) };
    }
    default:
      return null;
  }
}

/** The hold cache seen by target rather than by scope string. */
export function holdsByTarget(cache: { held(scope: string): Hold | null; all(): readonly Hold[]; set(hold: Hold): Promise<void>; lift(scope: string): Promise<boolean> }): HoldsByTarget {
  return {
    held: (target) => cache.held(holdScope(target)),
    set: (target, hold) => cache.set({ ...hold, scope: holdScope(target) }),
    lift: (target) => cache.lift(holdScope(target)),
    all: () =>
      cache.all().flatMap((hold) => {
        const target = parseHoldScope(hold.scope);
        return target ? [{ target, hold }] : [];
      }),
  };
}
