/**
 * A fleet of real Sluice nodes for cluster tests: N child processes started from the built
 * dist/ (`npx tsc -p tsconfig.json` first) on one private redis-server, each with its own
 * temp dir (data dir `<dir>/data`), its own free loopback ports and its own TOML. Nodes can
 * be killed with SIGKILL and started again on the same config and data dir; each one's
 * /api/status (and any other admin route) can be read, and conditions waited for.
 *
 * The harness writes [node], [cluster], [admin] and one relay [[listen]] per node; `shared`
 * (every node) and `perNode` (one node) add lines to [node] / [cluster] and any other
 * tables ([relay], [dns.static], [sources.x], more [[listen]] on the reserved ports, ...).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCli, tempDir, type CliNode } from './gateway.js';
import { freePort } from './ports.js';
import { startRedis, type PrivateRedis } from './redis-server.js';

/** What the harness knows of one node when it builds its TOML. */
export interface FleetNodeInfo {
  /** `[node] id`: "n1", "n2", ... */
  readonly id: string;
  /** 0-based position in the fleet. */
  readonly index: number;
  /** The node's temp dir; its data_dir is `<dir>/data`. */
  readonly dir: string;
  readonly ports: FleetPorts;
}

export interface FleetPorts {
  /** The relay [[listen]] the harness writes (127.0.0.1, open to 127.0.0.1/32 via `[relay]` when `relay` is not false). */
  readonly smtp: number;
  /** The [admin] listener on 127.0.0.1. */
  readonly admin: number;
  /** Reserved for a cluster listener (`[[listen]] mode = "cluster"`); written only when `clusterListener` is set. */
  readonly cluster: number;
  /** `extraPorts` more free ports, for listeners a test writes itself (a PROXY-protocol one, ...). */
  readonly extra: readonly number[];
}

/** A TOML part: plain text, or built per node. Its tables must not repeat another part's. */
export type TomlPart = string | ((n: FleetNodeInfo) => string);

export interface FleetOptions {
  /** How many nodes (ids n1..nN). */
  readonly nodes: number;
  /** TOML every node gets (tables; `${ID}`, `${DIR}`, `${REDIS}` are replaced). */
  readonly shared?: TomlPart;
  /** TOML for one node (tables), appended after `shared`. */
  readonly perNode?: (n: FleetNodeInfo) => string;
  /** Lines for the [node] table (after id, data_dir, hostname). */
  readonly nodeLines?: TomlPart;
  /** Lines for the [cluster] table (after redis_url, heartbeat, failover_after). */
  readonly clusterLines?: TomlPart;
  /** `[cluster] heartbeat` (default "500ms"). */
  readonly heartbeat?: string;
  /** `[cluster] failover_after` (default "3s"). */
  readonly failoverAfter?: string;
  /** Write `[[listen]] mode = "cluster"` on 127.0.0.1:ports.cluster (default false). */
  readonly clusterListener?: boolean;
  /** Write `[relay] networks = ["127.0.0.1/32"]` (default true; false when `shared` has its own [relay]). */
  readonly relay?: boolean;
  readonly extraPorts?: number;
  /** Start the nodes (default true); false: call `node.start()` yourself. */
  readonly start?: boolean;
}

/** GET /api/status as the admin API answers it (the fields fleet tests read). */
export interface FleetStatus {
  readonly node: string;
  readonly state_healthy: boolean;
  readonly draining: boolean;
  readonly queued_here: number;
  readonly nodes: readonly { readonly id: string; readonly live: boolean; readonly self: boolean; readonly draining: boolean; readonly cluster?: string | null; readonly [k: string]: unknown }[];
  readonly [k: string]: unknown;
}

export interface FleetNode extends FleetNodeInfo {
  readonly configFile: string;
  /** The process of the current run; null before the first start. */
  readonly cli: CliNode | null;
  readonly running: boolean;
  /** Starts (or restarts) the node on its config and data dir; resolves on the "started" log event. */
  start(timeoutMs?: number): Promise<void>;
  /** SIGKILL, as in a crash; resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (drain, then exit); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** An admin API call with the fleet's token: status code and parsed JSON (text when it is not JSON). */
  api(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: unknown }>;
  /** GET /api/status; throws on a non-200. */
  status(): Promise<FleetStatus>;
  /** Everything the node logged, over all its runs. */
  output(): string;
  /** Log lines (parsed JSON) with this `event`, over all runs. */
  events(event: string): Record<string, unknown>[];
}

export interface Fleet {
  readonly redis: PrivateRedis;
  readonly nodes: readonly FleetNode[];
  readonly token: string;
  node(id: string): FleetNode;
  /** Ids `viewer` lists as live in /api/status (empty while it cannot answer). */
  liveSeenBy(viewer: FleetNode): Promise<string[]>;
  /** Waits until every running node lists exactly the running nodes as live. */
  converged(timeoutMs?: number): Promise<void>;
  /** SIGKILL every node still running, then stop Redis. */
  stop(): Promise<void>;
}

/** Sources a, b and c (127.0.0.2 to .4), one on each of n1, n2 and n3: TOML for `shared`. */
export const ONE_SOURCE_PER_NODE = `[sources.a]
ip = "127.0.0.2"
ehlo = "a.fleet.test"
node = "n1"
[sources.b]
ip = "127.0.0.3"
ehlo = "b.fleet.test"
node = "n2"
[sources.c]
ip = "127.0.0.4"
ehlo = "c.fleet.test"
node = "n3"`;

export const FLEET_TOKEN = 'fleet-admin-token-0123456789';

/**
 * Polls `check` every `everyMs` until it returns something other than undefined/false/null,
 * and returns that; throws naming `what` (and the last error `check` threw) after `timeoutMs`.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function part(p: TomlPart | undefined, n: FleetNodeInfo): string {
  if (p === undefined) return '';
  return typeof p === 'string' ? p : p(n);
}

/** The TOML of node `n` (exported for tests that want to read or vary it). */
export function fleetToml(o: FleetOptions, n: FleetNodeInfo, redisUrl: string): string {
  const lines = [
    '[node]',
    `id = "${n.id}"`,
    `data_dir = "${n.dir}/data"`,
    `hostname = "${n.id}.fleet.test"`,
    part(o.nodeLines, n),
    '[cluster]',
    `redis_url = "${redisUrl}"`,
    `heartbeat = "${o.heartbeat ?? '500ms'}"`,
    `failover_after = "${o.failoverAfter ?? '3s'}"`,
    part(o.clusterLines, n),
    '[[listen]]',
    'host = "127.0.0.1"',
    `port = ${n.ports.smtp}`,
    'mode = "relay"',
  ];
  if (o.clusterListener) lines.push('[[listen]]', 'host = "127.0.0.1"', `port = ${n.ports.cluster}`, 'mode = "cluster"');
  lines.push('[admin]', `listen = "127.0.0.1:${n.ports.admin}"`, `token = "${FLEET_TOKEN}"`);
  if (o.relay !== false) lines.push('[relay]', 'networks = ["127.0.0.1/32"]');
  lines.push(part(o.shared, n), o.perNode ? o.perNode(n) : '');
  return `${lines.join('\n')}\n`.replaceAll('${ID}', n.id).replaceAll('${DIR}', n.dir).replaceAll('${REDIS}', redisUrl);
}

function makeNode(n: FleetNodeInfo, configFile: string): FleetNode {
  let cli: CliNode | null = null;
  const past: string[] = [];
  const running = () => cli !== null && cli.child.exitCode === null && cli.child.signalCode === null;
  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`http://127.0.0.1:${n.ports.admin}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${FLEET_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the text is the body
    }
    return { status: res.status, body };
  };
  const output = () => [...past, cli?.output() ?? ''].join('');
  return {
    ...n,
    configFile,
    get cli() {
      return cli;
    },
    get running() {
      return running();
    },
    async start(timeoutMs = 60_000) {
      if (running()) throw new Error(`${n.id} is already running`);
      if (cli) past.push(cli.output());
      cli = startCli(configFile);
      await cli.waitFor('started', timeoutMs);
    },
    async kill9() {
      if (!cli || !running()) return;
      cli.child.kill('SIGKILL');
      await cli.exited();
    },
    async stop() {
      if (!cli || !running()) return cli?.child.exitCode ?? null;
      cli.child.kill('SIGTERM');
      return cli.exited();
    },
    api,
    async status() {
      const r = await api('/api/status');
      if (r.status !== 200) throw new Error(`${n.id} /api/status answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body as FleetStatus;
    },
    output,
    events(event: string) {
      const rows: Record<string, unknown>[] = [];
      for (const line of output().split('\n')) {
        if (!line.includes(`"event":"${event}"`)) continue;
        try {
          rows.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a partial line: the rest is still being written
        }
      }
      return rows;
    },
  };
}

/** Starts a private Redis and `o.nodes` nodes on it (in parallel); see the module comment. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const redis = await startRedis();
  const nodes: FleetNode[] = [];
  try {
    for (let index = 0; index < o.nodes; index++) {
      const extra: number[] = [];
      for (let i = 0; i < (o.extraPorts ?? 0); i++) extra.push(await freePort());
      const info: FleetNodeInfo = { id: `n${index + 1}`, index, dir: tempDir(`sluice-fleet-n${index + 1}-`), ports: { smtp: await freePort(), admin: await freePort(), cluster: await freePort(), extra } };
      const configFile = join(info.dir, 'sluice.toml');
      writeFileSync(configFile, fleetToml(o, info, redis.url));
      nodes.push(makeNode(info, configFile));
    }
    if (o.start !== false) await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill9()));
    await redis.kill();
    throw err;
  }
  const node = (id: string) => {
    const found = nodes.find((n) => n.id === id);
    if (!found) throw new Error(`no node ${id} in this fleet (${nodes.map((n) => n.id).join(', ')})`);
    return found;
  };
  const liveSeenBy = async (viewer: FleetNode) => {
    try {
      const s = await viewer.status();
      // With cluster listeners, a node counts once its heartbeat carries its cluster address
      // (peers hand it mail only then).
      return s.nodes.filter((x) => x.live && (!o.clusterListener || x.cluster !== null)).map((x) => x.id).sort();
    } catch {
      return [];
    }
  };
  return {
    redis,
    nodes,
    token: FLEET_TOKEN,
    node,
    liveSeenBy,
    async converged(timeoutMs = 20_000) {
      const up = () => nodes.filter((n) => n.running);
      await waitUntil(
        `every running node to see exactly the running nodes as live${o.clusterListener ? ', each with its cluster address' : ''}`,
        async () => {
          const want = up().map((n) => n.id).sort().join(',');
          const seen = await Promise.all(up().map((n) => liveSeenBy(n)));
          return seen.every((s) => s.join(',') === want);
        },
        timeoutMs,
      );
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill9()));
      await redis.kill();
    },
  };
}
