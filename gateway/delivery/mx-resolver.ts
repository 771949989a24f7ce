/**
 * MX resolution (RFC 5321 §5.1): MX records by preference, the domain's own A/AAAA
 * when it has no MX, null MX (RFC 7505) as a permanent failure, and fixed routes from
 * [dns.static]. Answers are cached; failures briefly, so one bad domain does not hammer DNS.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Clock } from '../state/types.js';
import { localResponse, type Response } from './response.js';

export interface MxHost {
  readonly name: string;
  readonly priority: number;
  readonly addresses: readonly string[];
  readonly port: number;
}

export type Route =
  | { readonly kind: 'hosts'; readonly hosts: readonly MxHost[]; readonly site: string; readonly mxNames: readonly string[] }
  | { readonly kind: 'failed'; readonly response: Response };

export interface MxResolverOptions {
  readonly servers?: readonly string[] | undefined;
  readonly staticRoutes: Readonly<Record<string, string>>;
  readonly port: number;
  readonly timeoutMs: number;
  readonly maxCacheTtlMs: number;
  readonly clock: Clock;
}

const NEGATIVE_TTL_MS = 60_000;
const TEMPFAIL_TTL_MS = 10_000;
const MAX_CACHE_ENTRIES = 100_000;

export class MxResolver {
  private readonly resolver: Resolver;
  private readonly cache = new Map<string, { route: Route; expires: number }>();
  private readonly inflight = new Map<string, Promise<Route>>();

  constructor(private readonly opts: MxResolverOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs, tries: 2 });
    if (opts.servers && opts.servers.length > 0) this.resolver.setServers([...opts.servers]);
  }

  resolve(domain: string): Promise<Route> {
    const key = domain.toLowerCase();
    const hit = this.cache.get(key);
    if (hit && hit.expires > this.opts.clock.now()) return Promise.resolve(hit.route);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.lookup(key).then(({ route, ttlMs }) => {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, { route, expires: this.opts.clock.now() + ttlMs });
      return route;
    }).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async lookup(domain: string): Promise<{ route: Route; ttlMs: number }> {
    const fixed = this.opts.staticRoutes[domain] ?? this.opts.staticRoutes['*'];
    if (fixed) return { route: staticRoute(fixed), ttlMs: this.opts.maxCacheTtlMs };
    if (domain.startsWith('[') || isIP(domain)) {
      return { route: { kind: 'failed', response: localResponse(550, '5.1.2', `address literals are not relayed: ${domain}`) }, ttlMs: NEGATIVE_TTL_MS };
    }
    let mx: { exchange: string; priority: number }[];
    try {
      mx = await this.resolver.resolveMx(domain);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return failed(550, '5.1.2', `domain ${domain} does not exist`, NEGATIVE_TTL_MS);
      if (code === 'ENODATA') return this.implicitMx(domain);
      return failed(451, '4.4.3', `DNS lookup for ${domain} failed (${code ?? 'error'})`, TEMPFAIL_TTL_MS);
    }
    // RFC 7505: a single MX of "." with preference 0 says the domain takes no mail.
    if (mx.length === 1 && (mx[0]?.exchange === '' || mx[0]?.exchange === '.')) {
      return failed(556, '5.1.10', `domain ${domain} accepts no mail (null MX)`, this.opts.maxCacheTtlMs);
    }
    if (mx.length === 0) return this.implicitMx(domain);
    mx.sort((a, b) => a.priority - b.priority);
    const hosts: MxHost[] = [];
    let ttl = this.opts.maxCacheTtlMs;
    let tempFailures = 0;
    for (const rec of mx) {
      const a = await this.addresses(rec.exchange);
      if (a.tempFail) tempFailures++;
      ttl = Math.min(ttl, a.ttlMs);
      if (a.addresses.length > 0) hosts.push({ name: rec.exchange.toLowerCase(), priority: rec.priority, addresses: a.addresses, port: this.opts.port });
    }
    if (hosts.length === 0) {
      return tempFailures > 0
        ? failed(451, '4.4.3', `no MX host of ${domain} resolved`, TEMPFAIL_TTL_MS)
        : failed(550, '5.1.2', `no MX host of ${domain} has an address`, NEGATIVE_TTL_MS);
    }
    const mxNames = [...new Set(mx.map((m) => m.exchange.toLowerCase()))].sort();
    return { route: { kind: 'hosts', hosts, site: mxNames.join(','), mxNames }, ttlMs: Math.max(1000, ttl) };
  }

  private async implicitMx(domain: string): Promise<{ route: Route; ttlMs: number }> {
    const a = await this.addresses(domain);
    if (a.addresses.length === 0) {
      return a.tempFail ? failed(451, '4.4.3', `DNS lookup for ${domain} failed`, TEMPFAIL_TTL_MS) : failed(550, '5.1.2', `domain ${domain} has no MX and no address`, NEGATIVE_TTL_MS);
    }
    const host: MxHost = { name: domain, priority: 0, addresses: a.addresses, port: this.opts.port };
    return { route: { kind: 'hosts', hosts: [host], site: domain, mxNames: [domain] }, ttlMs: Math.max(1000, Math.min(this.opts.maxCacheTtlMs, a.ttlMs)) };
  }

  private async addresses(name: string): Promise<{ addresses: string[]; ttlMs: number; tempFail: boolean }> {
    if (isIP(name)) return { addresses: [name], ttlMs: this.opts.maxCacheTtlMs, tempFail: false };
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(name, { ttl: true }), this.resolver.resolve6(name, { ttl: true })]);
    const addresses: string[] = [];
    let ttl = this.opts.maxCacheTtlMs;
    let tempFail = false;
    for (const r of [v4, v6]) {
      if (r.status === 'fulfilled') {
        for (const rec of r.value) {
          addresses.push(rec.address);
          ttl = Math.min(ttl, rec.ttl * 1000);
        }
      } else {
        const code = (r.reason as NodeJS.ErrnoException).code;
        if (code !== 'ENOTFOUND' && code !== 'ENODATA') tempFail = true;
      }
    }
    return { addresses, ttlMs: ttl, tempFail };
  }
}

function failed(code: number, enhanced: string, text: string, ttlMs: number): { route: Route; ttlMs: number } {
  return { route: { kind: 'failed', response: localResponse(code, enhanced, text) }, ttlMs };
}

function staticRoute(target: string): Route {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  const host = m?.[1] ?? target;
  const port = Number(m?.[2] ?? 25);
  return { kind: 'hosts', hosts: [{ name: host, priority: 0, addresses: isIP(host) ? [host] : [], port }], site: `static:${target}`, mxNames: [host] };
}
