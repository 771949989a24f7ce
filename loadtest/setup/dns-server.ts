import dns2 from 'dns2';
import type { DnsServer, Packet as DnsPacket, Resource } from 'dns2';
import { LoadtestError } from '../errors.js';

const { Packet } = dns2;

/** The records the load test's DNS server answers; every name lower case, no trailing dot. */
export interface Zone {
  readonly mx: Map<string, { exchange: string; priority: number }[]>;
  readonly a: Map<string, string[]>;
  readonly txt: Map<string, string[]>;
}

export function emptyZone(): Zone {
  return { mx: new Map(), a: new Map(), txt: new Map() };
}

const TTL = 300;
const NXDOMAIN = 3; // RFC 1035 §4.1.1 (dns2 has Packet.RCODE, its types do not)

/**
 * An authoritative DNS server on loopback (dns2, UDP and TCP on one port) for the test
 * domains: MX for recipient domains, A for the MX hosts, TXT for the DKIM key. A name it
 * does not know gets NXDOMAIN; a known name without the asked type gets an empty answer
 * (RFC 2308 §2.2 NODATA), so AAAA lookups fall back to A quickly.
 */
export class LoadtestDns {
  private constructor(
    private readonly server: DnsServer,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(zone: Zone, host: string, port: number): Promise<LoadtestDns> {
    const server = dns2.createServer({ udp: true, tcp: true, handle: (req, send) => void send(answer(zone, req)) });
    const failed = new Promise<never>((_, reject) =>
      server.once('error', (err: Error) => reject(new LoadtestError('SETUP_FAILED', `DNS server on ${host}:${port}: ${err.message}`, { cause: err }))),
    );
    await Promise.race([server.listen({ udp: { port, address: host }, tcp: { port, address: host } }), failed]);
    server.on('error', () => undefined);
    return new LoadtestDns(server, host, port);
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async stop(): Promise<void> {
    await Promise.race([this.server.close(), new Promise((r) => setTimeout(r, 1000))]);
  }
}

export function answer(zone: Zone, request: DnsPacket): DnsPacket {
  const response = Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  for (const q of request.questions) {
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const known = zone.mx.has(name) || zone.a.has(name) || zone.txt.has(name);
    if (!known) {
      response.header.rcode = NXDOMAIN;
      continue;
    }
    const base = { name: q.name, class: Packet.CLASS.IN, ttl: TTL };
    if (q.type === Packet.TYPE.MX || q.type === Packet.TYPE.ANY) {
      for (const mx of zone.mx.get(name) ?? []) response.answers.push({ ...base, type: Packet.TYPE.MX, ...mx } as Resource);
    }
    if (q.type === Packet.TYPE.A || q.type === Packet.TYPE.ANY) {
      for (const address of zone.a.get(name) ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address } as Resource);
    }
    if (q.type === Packet.TYPE.TXT || q.type === Packet.TYPE.ANY) {
      for (const data of zone.txt.get(name) ?? []) {
        response.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunks(data, 255) } as Resource);
      }
    }
  }
  return response;
}

/** TXT character-strings hold at most 255 bytes each (RFC 1035 §3.3.14). */
function chunks(s: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length ? out : [''];
}
