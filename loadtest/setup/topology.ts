import { SENDER_DOMAIN, type Destination } from '../client/message.js';
import type { Zone } from './dns-server.js';
import { emptyZone } from './dns-server.js';

/**
 * Where everything lives on loopback (all of 127.0.0.0/8 reaches `lo` on Linux):
 *   127.0.0.1        the gateway's listener, the DNS server, the client
 *   127.0.0.2 …      the gateway's sources (lt1, lt2, …)
 *   127.0.0.29       the bounce catcher: MX of the sender domain, where DSNs land
 *   127.0.0.30 …     one simulated provider per profile, all on the [delivery] port
 */
export const LOCAL_HOST = '127.0.0.1';
export const DSN_HOST = '127.0.0.29';
export const MAX_SOURCES = 20;
export const MAX_PROVIDERS = 40;

export function sourceIp(i: number): string {
  return `127.0.0.${2 + i}`;
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
