import { SENDER_DOMAIN, type Destination } from '../client/message.js';
import type { Zone } from './dns-server.js';
import { emptyZone } from './dns-server.js';

/**
 * Where everything lives on loopback (all of 127.0.0.0/8 reaches `lo` on Linux):
 *   127.0.0.1        the gateway's listener, the DNS server, the client
 *   127.0.0.2 …      the gateway's sources (lt1, lt2, …; --source-base moves them)
 *   127.0.0.29       the bounce catcher: MX of the sender domain, where DSNs land
 *   127.0.0.30 …     one simulated provider per profile, all on the [delivery] port
 */
export const LOCAL_HOST = '127.0.0.1';
export const DSN_HOST = '127.0.0.29';
export const MAX_SOURCES = 20;
export const MAX_PROVIDERS = 40;

export const DEFAULT_SOURCE_BASE = '127.0.0.2';

/** The i-th source address (from 0), counting up from `base` in its last octet. */
export function sourceIp(i: number, base = DEFAULT_SOURCE_BASE): string {
  const parts = base.split('.');
  return `${parts.slice(0, 3).join('.')}.${Number(parts[3]) + i}`;
}

/**
 * Why `count` sources from `base` cannot be used, or null: they must be loopback addresses
 * (RFC 1122 §3.2.1.3: 127/8 never leaves the host) within one /24, and none may be an
 * address the run itself uses (the client and DNS on 127.0.0.1, the bounce catcher, the
 * simulators), or the simulators could not tell a source from a peer.
 */
export function sourceBaseProblem(base: string, count: number): string | null {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(base);
  const octets = m ? [m[1], m[2], m[3]].map(Number) : [];
  if (!m || octets.some((o) => o > 255)) return `--source-base must be an IPv4 address on loopback (127.x.y.z), not "${base}"`;
  const last = octets[2] as number;
  if (last < 1 || last + count - 1 > 254) return `--source-base ${base} with --sources ${count} runs past ${base.replace(/\d+$/, '254')}: pick a lower last number`;
  const taken = new Set([LOCAL_HOST, DSN_HOST, ...Array.from({ length: MAX_PROVIDERS }, (_, i) => simIp(i))]);
  for (let i = 0; i < count; i++) {
    const ip = sourceIp(i, base);
    if (taken.has(ip)) return `--source-base ${base} with --sources ${count} includes ${ip}, which the load test uses itself (127.0.0.1, 127.0.0.29 and 127.0.0.30 … 127.0.0.${29 + MAX_PROVIDERS} are taken)`;
  }
  return null;
}

export function simIp(i: number): string {
  return `127.0.0.${30 + i}`;
}

/** MX hosts of a provider end in this suffix; the generated config's mx_suffixes say the same. */
export function mxSuffix(provider: string): string {
  return `.${provider}.loadtest.test`;
}

export function mxHosts(provider: string): string[] {
  return [`mx1${mxSuffix(provider)}`, `mx2${mxSuffix(provider)}`];
}

export const DSN_MX = 'mx.bounces.loadtest.test';

export interface ZoneInput {
  readonly domains: readonly Destination[];
  readonly simHosts: ReadonlyMap<string, string>; // provider → simulator IP
  readonly dkim?: { readonly name: string; readonly txt: string } | undefined;
}

export function buildZone(input: ZoneInput): Zone {
  const zone = emptyZone();
  for (const [provider, ip] of input.simHosts) {
    const hosts = mxHosts(provider);
    hosts.forEach((h) => zone.a.set(h, [ip]));
    for (const d of input.domains) {
      if (d.provider !== provider) continue;
      zone.mx.set(d.domain, hosts.map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })));
    }
  }
  zone.mx.set(SENDER_DOMAIN, [{ exchange: DSN_MX, priority: 10 }]);
  zone.a.set(DSN_MX, [DSN_HOST]);
  if (input.dkim) zone.txt.set(input.dkim.name, [input.dkim.txt]);
  return zone;
}
