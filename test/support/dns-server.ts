import { createSocket } from 'node:dgram';
import { Server as NetServer, Socket } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;
// RFC 1035 §4.1.1 RCODEs (dns2 has Packet.RCODE but its typings omit it).
const FORMERR = 1;
const NXDOMAIN = 3;

export interface ZoneEntry {
  /** MX records; a null MX (RFC 7505) is `[{ priority: 0, exchange: '.' }]`. */
  mx?: Array<{ priority: number; exchange: string }>;
  a?: string[];
  aaaa?: string[];
  txt?: string[];
  /** TTL of every record of this name; 60 s by default. */
  ttl?: number;
}

/** Name → records. Names are case-insensitive; a trailing dot is ignored. */
export type Zone = Record<string, ZoneEntry>;

export interface DnsQuery {
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'MX' | 'TXT' | 'OTHER';
  readonly transport: 'udp' | 'tcp';
}

export interface TestDnsServer {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:PORT`, ready for `Resolver.setServers([address])` or `[dns] servers`. */
  readonly address: string;
  /** Replaces the whole zone; later queries see the new data. */
  set(zone: Zone): void;
  /** Every query answered so far, oldest first (for cache tests). */
  readonly queries: readonly DnsQuery[];
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function indexZone(zone: Zone): Map<string, ZoneEntry> {
  return new Map(Object.entries(zone).map(([name, entry]) => [normalise(name), entry]));
}

function typeName(type: number): DnsQuery['type'] {
  switch (type) {
    case Packet.TYPE.A:
      return 'A';
    case Packet.TYPE.AAAA:
      return 'AAAA';
    case Packet.TYPE.MX:
      return 'MX';
    case Packet.TYPE.TXT:
      return 'TXT';
    default:
      return 'OTHER';
  }
}

function answersFor(name: string, type: DnsQuery['type'], entry: ZoneEntry): dns2.Packet.Resource[] {
  const base = { name, class: Packet.CLASS.IN, ttl: entry.ttl ?? 60 };
  switch (type) {
    case 'MX':
      return (entry.mx ?? []).map((mx) => ({
        ...base,
        type: Packet.TYPE.MX,
        priority: mx.priority,
        // The root name "." is encoded as the empty name (a single zero octet).
        exchange: mx.exchange === '.' ? '' : mx.exchange.replace(/\.$/, ''),
      })) as dns2.Packet.Resource[];
    case 'A':
      return (entry.a ?? []).map((address) => ({ ...base, type: Packet.TYPE.A, address })) as dns2.Packet.Resource[];
    case 'AAAA':
      return (entry.aaaa ?? []).map((address) => ({ ...base, type: Packet.TYPE.AAAA, address })) as dns2.Packet.Resource[];
    case 'TXT':
      return (entry.txt ?? []).map((data) => ({ ...base, type: Packet.TYPE.TXT, data })) as dns2.Packet.Resource[];
    case 'OTHER':
      return [];
  }
}

/** A port free for UDP on HOST right now; TCP is then tried on the same port. */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

async function listenBoth(server: dns2.DnsServer): Promise<number> {
  const port = await freeUdpPort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ udp: { port, address: HOST }, tcp: { port, address: HOST } }).then(() => {
      server.off('error', reject);
      resolve();
    }, reject);
  });
  return port;
}

/**
 * A real DNS server on 127.0.0.1 (UDP and TCP on one port, so truncated answers can
 * be retried over TCP as RFC 1035 §4.2.1 wants). Unknown names answer NXDOMAIN; a
 * known name without records of the asked type answers NOERROR with no answers
 * (Node reports ENODATA).
 */
export async function startDnsServer(zone: Zone = {}): Promise<TestDnsServer> {
  let records = indexZone(zone);
  const queries: DnsQuery[] = [];

  const handle: dns2.DnsHandler = (request, send, client) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    const question = request.questions[0];
    if (question !== undefined) {
      const name = normalise(question.name);
      const type = typeName(question.type);
      queries.push({ name, type, transport: client instanceof Socket ? 'tcp' : 'udp' });
      const entry = records.get(name);
      if (entry === undefined) {
        response.header.rcode = NXDOMAIN;
      } else {
        response.answers.push(...answersFor(question.name.replace(/\.$/, ''), type, entry));
      }
    } else {
      response.header.rcode = FORMERR;
    }
    send(response).catch(() => undefined);
  };

  let server: dns2.DnsServer | undefined;
  let port = 0;
  for (let attempt = 0; server === undefined; attempt++) {
    const candidate = dns2.createServer({ udp: true, tcp: true, handle });
    try {
      port = await listenBoth(candidate);
      server = candidate;
    } catch (err) {
      void candidate.close().catch(() => undefined);
      if (attempt >= 10) throw err;
    }
  }
  const running = server;
  // Node's net.Server 'close' waits for open sockets; dns2 keeps TCP sockets open
  // for 10 s of idle time (RFC 7766 §6.2.3), so close() destroys them itself.
  const sockets = new Set<Socket>();
  const tcp = (running as unknown as { servers: { tcp?: NetServer } }).servers.tcp;
  tcp?.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  return {
    host: HOST,
    port,
    address: `${HOST}:${port}`,
    set(next: Zone) {
      records = indexZone(next);
    },
    queries,
    async close() {
      const closed = running.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
