/**
 * Support for the Redis fault scenarios (test/chaos/redis-faults.chaos.ts): two nodes as
 * child processes of the built CLI on one private redis-server, sending through a DNS
 * zone of one provider to one test MX, with two shared sources (no `node` set: both nodes
 * draw on each source's limits); a client paced per node; each node's memory read from
 * /proc; the connection leases left in Redis counted straight from its sorted sets.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { tempDir, type CliNode } from '../../support/gateway.js';
import { startTestMx, type TestMx } from '../../support/test-mx.js';
import { startDnsServer, type TestDnsServer } from '../../support/dns-server.js';
import { startRedis, type PrivateRedis } from '../../support/redis-server.js';
import { freePort } from '../../support/ports.js';
import { baseConfig, providerZone } from '../../shaping/harness.js';
import { sendAll, sleep, startNode, type ClientStats } from './chaos.js';

export const MX_IP = '127.0.0.50';
/** The shared sources: each has its own max_message_rate and max_connections. */
export const SOURCES = { a: '127.0.0.51', b: '127.0.0.52' } as const;
/** [providers.rchaos] max_message_rate per source, across both nodes (messages per second). */
export const RATE = 50;
/** [providers.rchaos] max_connections per source, across both nodes. */
export const CONNECTIONS = 4;
export const NODES = 2;

export interface Fleet {
  readonly redis: PrivateRedis;
  readonly mx: TestMx;
  readonly dns: TestDnsServer;
  readonly nodes: CliNode[];
  readonly ports: number[];
  close(): Promise<void>;
}

function nodeToml(id: string, port: number, dns: string, mxPort: number, redisUrl: string): string {
  return baseConfig({
    dns,
    mxPort,
    node: { id },
    listenPort: port,
    cluster: { redis_url: redisUrl },
    queue: { retry: ['1s'] },
    sources: { a: { ip: SOURCES.a }, b: { ip: SOURCES.b } },
    pools: { transactional: { sources: ['a', 'b'] } },
    providers: { rchaos: { mx_suffixes: ['.rchaos.test'], max_connections: CONNECTIONS, max_message_rate: `${RATE}/s`, idle_timeout: '2s' } },
  });
}

/** Redis, the MX (recipient domains d0-d9.chaos.example.net, as chaos.ts's rcptOf makes them), the DNS zone and two started nodes. */
export async function startFleet(): Promise<Fleet> {
  const redis = await startRedis();
  const mx = await startTestMx({ host: MX_IP });
  const dns = await startDnsServer(providerZone('chaos.example.net', 10, 'mx.rchaos.test', MX_IP));
  const nodes: CliNode[] = [];
  const ports: number[] = [];
  const close = async (): Promise<void> => {
    for (const n of nodes) {
      n.child.kill('SIGTERM');
      await n.exited();
    }
    await mx.close();
    await dns.close();
    await redis.stop();
  };
  try {
    for (let i = 1; i <= NODES; i++) {
      const dir = tempDir(`sluice-chaos-redis-n${i}-`);
      const port = await freePort();
      nodes.push(startNode(dir, nodeToml(`n${i}`, port, dns.address, mx.port, redis.url).replaceAll('${DIR}', dir)));
      ports.push(port);
    }
    for (const n of nodes) await n.waitFor('started', 60_000);
    return { redis, mx, dns, nodes, ports, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/**
 * Sends `perSecond` messages a second to `port` (a batch every 200 ms over 2 connections,
 * each message retried until it gets a 250) until `stop()` holds; ids from `nextId`.
 * Batches that cannot go out at once (the node slow to accept) pile up to 20 at most.
 */
export async function pacedClient(port: number, perSecond: number, nextId: () => number, stats: ClientStats, stop: () => boolean): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  const perBatch = Math.max(1, Math.round(perSecond / 5));
  for (let tick = Date.now(); !stop(); tick += 200) {
    if (inFlight.size < 20) {
      const ids = Array.from({ length: perBatch }, nextId);
      const p: Promise<unknown> = sendAll(port, ids, { concurrency: 2, stats }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(Math.max(0, tick + 200 - Date.now()));
  }
  await Promise.all(inFlight);
}

/** A field of /proc/<pid>/status in MB (VmRSS now, VmHWM the peak so far). */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/**
 * Connection leases in Redis that have not lapsed, summed over every lease set (a sorted
 * set per key, member = lease id, score = expiry in Redis ms, as scripts/count-lease-1.ts
 * reads them), and the key of each.
 */
export async function liveLeases(url: string): Promise<Record<string, number>> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    const [sec, micro] = (await r.time()) as [number | string, number | string];
    const nowMs = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    const out: Record<string, number> = {};
    for (const key of await r.keys('sluice:{t}:lease:*')) out[key] = await r.zcount(key, `(${nowMs}`, '+inf');
    return out;
  } finally {
    r.disconnect();
  }
}
