/**
 * Which provider a destination belongs to: the first [providers.X] whose mx_suffixes
 * all MX hosts end with, or whose domains list names the domain; else none, and the
 * destination is throttled per site (its MX host set), as DESIGN.md says.
 */
import type { Config, ProviderConfig } from '../config/schema.js';
import type { Rate, RateClaim } from '../state/types.js';
import { keys } from './keys.js';

/** A table's max_message_rate with its own max_message_burst: a burst is only ever read beside its rate. */
function tableRate(table: { max_message_rate?: Rate | undefined; max_message_burst?: number | undefined } | undefined): Rate | undefined {
  const rate = table?.max_message_rate;
  if (rate === undefined) return undefined;
  const burst = table?.max_message_burst;
  return burst === undefined ? rate : { ...rate, burst };
}

export interface ProviderLimits {
  /** The throttle key: a provider name, or `site:<mx hosts>` for unmatched destinations. */
  readonly key: string;
  /** The provider name as configured ("default" when none matched). */
  readonly name: string;
  readonly maxConnections: number;
  /** At most `count` per any window of one period, per source (state/gcra-params.ts). */
  readonly maxMessageRate: Rate | null;
  readonly maxMessagesPerConnection: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly totalMaxConnections: number | null;
  readonly totalMaxMessageRate: Rate | null;
  readonly rules: ProviderConfig['rules'];
}

/** The rate claims one message from `source` to `provider` takes: per source, and the provider's fleet total. */
export function rateClaims(source: string, provider: ProviderLimits): RateClaim[] {
  const claims: RateClaim[] = [];
  if (provider.maxMessageRate) claims.push({ key: keys.sourceRate(source, provider.key), rate: provider.maxMessageRate });
  if (provider.totalMaxMessageRate) claims.push({ key: keys.providerRate(provider.key), rate: provider.totalMaxMessageRate });
  return claims;
}

export class ProviderTable {
  private readonly named: [string, ProviderConfig][];
  constructor(private readonly config: Config) {
    this.named = Object.entries(config.providers).filter(([name]) => name !== 'default');
  }

  match(domain: string, mxNames: readonly string[]): string | null {
    const d = domain.toLowerCase();
    for (const [name, p] of this.named) {
      if (p.domains.some((x) => x.toLowerCase() === d)) return name;
      if (p.mx_suffixes.length > 0 && mxNames.length > 0 && mxNames.every((mx) => p.mx_suffixes.some((s) => endsWithLabel(mx, s)))) return name;
    }
    return null;
  }

  limits(domain: string, mxNames: readonly string[], site: string): ProviderLimits {
    return this.limitsOf(this.match(domain, mxNames), site);
  }

  /** The limits of provider `name`, or (null) of a destination no provider matched, per site `site`. */
  limitsOf(name: string | null, site: string): ProviderLimits {
    const p = name ? this.config.providers[name] : undefined;
    const fallback = this.config.providers['default'];
    const d = this.config.delivery;
    const pick = <K extends keyof ProviderConfig>(k: K): ProviderConfig[K] | undefined => p?.[k] ?? fallback?.[k];
    const maxConnections = pick('max_connections') ?? d.max_connections_per_destination;
    const maxMessageRate = tableRate(p) ?? tableRate(fallback) ?? null;
    return {
      key: name ?? `site:${site}`,
      name: name ?? 'default',
      maxConnections,
      maxMessageRate,
      maxMessagesPerConnection: pick('max_messages_per_connection') ?? d.max_messages_per_connection,
      connectTimeoutMs: pick('connect_timeout') ?? d.connect_timeout,
      idleTimeoutMs: pick('idle_timeout') ?? d.idle_timeout,
      // A named provider's totals are its [total] table. A site shares one set of limits
      // (DESIGN.md: "a thousand domains hosted on one server share one set of limits"):
      // [providers.default] holds for the site as a whole, all sources and nodes together.
      totalMaxConnections: name ? (p?.total?.max_connections ?? null) : maxConnections,
      totalMaxMessageRate: name ? (tableRate(p?.total) ?? null) : maxMessageRate,
      rules: p ? [...p.rules, ...(fallback?.rules ?? [])] : (fallback?.rules ?? []),
    };
  }
}

function endsWithLabel(host: string, suffix: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const s = suffix.toLowerCase().replace(/\.$/, '');
  if (s.startsWith('.')) return h.endsWith(s) || h === s.slice(1);
  return h === s || h.endsWith(`.${s}`);
}
