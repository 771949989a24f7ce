/**
 * Networks as the config writes them (relay.networks, feedback.trusted_reporters): IPv4 and
 * IPv6 CIDRs (ip-address), matched against a client's address. Here, under config/, because
 * loading checks them and ingress, feedback and plugins match with them (a shared seam).
 */
import { Address4, Address6 } from 'ip-address';

export type Network = { readonly v: 4; readonly net: Address4 } | { readonly v: 6; readonly net: Address6 };

export function parseNetwork(text: string): Network | null {
  const t = text.trim();
  try {
    if (Address4.isValid(t)) return { v: 4, net: new Address4(t.includes('/') ? t : `${t}/32`) };
    if (Address6.isValid(t)) return { v: 6, net: new Address6(t.includes('/') ? t : `${t}/128`) };
  } catch {
    return null;
  }
  return null;
}

/** Answers a list keeps (a client's address is checked at every command); past it the list starts again. */
const SEEN_MAX = 4_096;

export class NetworkList {
  private readonly nets: readonly Network[];
  /**
   * Answers by address. Ingress asks at every command and reply of a session, and each
   * answer parsed the address with ip-address again: about 9 KB of garbage an accepted
   * message, a ninth of all it allocated (docs/BENCHMARKS.md). A reload makes a new list,
   * so answers never go stale.
   */
  readonly #seen = new Map<string, boolean>();

  constructor(cidrs: readonly string[]) {
    this.nets = cidrs.map(parseNetwork).filter((n): n is Network => n !== null);
  }

  /** True when `address` (IPv4, IPv6, or IPv4-mapped IPv6 as sockets report it) is in a listed network. */
  contains(address: string): boolean {
    const known = this.#seen.get(address);
    if (known !== undefined) return known;
    const inside = this.match(address);
    if (this.#seen.size >= SEEN_MAX) this.#seen.clear();
    this.#seen.set(address, inside);
    return inside;
  }

  private match(address: string): boolean {
    const addr = normalise(address);
    if (!addr) return false;
    return this.nets.some((n) => (n.v === 4 && addr.v === 4 ? addr.a.isInSubnet(n.net) : n.v === 6 && addr.v === 6 ? addr.a.isInSubnet(n.net) : false));
  }
}

function normalise(address: string): { v: 4; a: Address4 } | { v: 6; a: Address6 } | null {
  try {
    if (Address4.isValid(address)) return { v: 4, a: new Address4(address) };
    if (Address6.isValid(address)) {
      const a6 = new Address6(address);
      // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket (RFC 4291 §2.5.5.2).
      if (a6.is4()) return { v: 4, a: a6.to4() };
      return { v: 6, a: a6 };
    }
  } catch {
    return null;
  }
  return null;
}
