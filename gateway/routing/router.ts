/**
 * [[routes]]: the first rule whose every given field matches decides the pool (and
 * optionally the priority); otherwise the pool named like the class. Matching is on
 * what is known once the recipient's provider is known: class, provider, sender and
 * recipient domain, auth user, header values captured at accept time.
 */
import type { Config, RouteConfig } from '../config/schema.js';
import type { Envelope } from '../spool/types.js';
import { globMatch } from './glob.js';

export interface RouteDecision {
  readonly pool: string;
  readonly priority: number;
  /** Index of the [[routes]] rule that decided, or null for the default. */
  readonly rule: number | null;
  readonly why: string;
}

export interface RouteInput {
  readonly envelope: Pick<Envelope, 'class' | 'mailFrom' | 'authUser' | 'routeHeaders' | 'pool' | 'priority'>;
  readonly domain: string;
  readonly provider: string;
}

export class Router {
  private readonly poolNames: string[];
  constructor(private readonly config: Config) {
    this.poolNames = Object.keys(config.pools);
  }

  /** Header names (lower-cased) that rules look at: ingress keeps these values in the envelope. */
  headerNames(): string[] {
    const names = new Set<string>();
    for (const r of this.config.routes) for (const h of Object.keys(r.header ?? {})) names.add(h.toLowerCase());
    return [...names];
  }

  decide(input: RouteInput): RouteDecision {
    const env = input.envelope;
    if (env.pool && this.config.pools[env.pool]) {
      return { pool: env.pool, priority: env.priority ?? this.poolPriority(env.pool), rule: null, why: `pool "${env.pool}" set by a plugin` };
    }
    for (let i = 0; i < this.config.routes.length; i++) {
      const r = this.config.routes[i] as RouteConfig;
      if (this.matches(r, input)) {
        return { pool: r.pool, priority: r.priority ?? env.priority ?? this.poolPriority(r.pool), rule: i, why: `routes[${i}] matched` };
      }
    }
    if (this.config.pools[env.class]) {
      return { pool: env.class, priority: env.priority ?? this.poolPriority(env.class), rule: null, why: `pool named like class "${env.class}"` };
    }
    const fallback = this.poolNames[0] ?? IMPLICIT_POOL;
    return { pool: fallback, priority: env.priority ?? this.poolPriority(fallback), rule: null, why: `no pool named "${env.class}": first pool "${fallback}"` };
  }

  private poolPriority(pool: string): number {
    return this.config.pools[pool]?.priority ?? 0;
  }

  private matches(r: RouteConfig, input: RouteInput): boolean {
    const env = input.envelope;
    if (r.class !== undefined && !globMatch(r.class, env.class)) return false;
    if (r.provider !== undefined && !globMatch(r.provider, input.provider)) return false;
    if (r.sender_domain !== undefined && !globMatch(r.sender_domain, domainOf(env.mailFrom))) return false;
    if (r.recipient_domain !== undefined && !globMatch(r.recipient_domain, input.domain)) return false;
    if (r.auth_user !== undefined && !globMatch(r.auth_user, env.authUser ?? '')) return false;
    for (const [name, pattern] of Object.entries(r.header ?? {})) {
      const v = env.routeHeaders[name.toLowerCase()];
      if (v === undefined || !globMatch(pattern, v)) return false;
    }
    return true;
  }
}

/** With no [pools] at all, the node delivers from the OS's default address. */
export const IMPLICIT_POOL = 'default';

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}
