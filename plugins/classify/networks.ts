/**
 * `client_network`: IPv4 and IPv6 networks matched against the client's address. The
 * plugin keeps its own small copy (built-ins use only the public plugin API, not
 * gateway/ingress/networks.ts); ip-address does the bit work.
 */
import { Address4, Address6 } from 'ip-address';

export type Cidr = { readonly v: 4; readonly net: Address4 } | { readonly v: 6; readonly net: Address6 };

/** "10.0.0.0/8", "192.0.2.7" (a /32), "2001:db8::/32", "::1" (a /128); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const t = text.trim();
  try {
    if (Address4.isValid(t)) return { v: 4, net: new Address4(t.includes('/') ? t : `${t}/32`) };
    if (Address6.isValid(t)) return { v: 6, net: new Address6(t.includes('/') ? t : `${t}/128`) };
  } catch {
    return null;
  }
  return null;
}

/** The client's address as a family and value; an IPv4-mapped IPv6 address counts as IPv4. */
function parseClient(address: string): Cidr | null {
  try {
    if (Address4.isValid(address)) return { v: 4, net: new Address4(address) };
    if (Address6.isValid(address)) {
      const a6 = new Address6(address);
      // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket (RFC 4291 §2.5.5.2).
      return a6.is4() ? { v: 4, net: a6.to4() } : { v: 6, net: a6 };
    }
  } catch {
    return null;
  }
  return null;
}

export function inNetworks(address: string, networks: readonly Cidr[]): boolean {
  const client = parseClient(address);
  if (client === null) return false;
  return networks.some((n) => (n.v === 4 && client.v === 4 ? client.net.isInSubnet(n.net) : n.v === 6 && client.v === 6 ? client.net.isInSubnet(n.net) : false));
}
