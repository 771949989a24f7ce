/**
 * Shaping test support: an in-process node whose JSON log lines the test can read
 * (events such as source_held, warmup_exhausted), a DNS zone that maps many domains to
 * one provider's MX hosts, a submitter that queues many recipients quickly, and a watch of
 * the MX's concurrent sessions summed over every peer IP. The setup most tests share:
 * baseConfig / nodeConfig (a relay node's TOML from its sources, pools, providers…) and
 * setupShaping / useShaping (Redis if asked, MX, DNS zone and nodes, closed together).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../gateway/config/load.js';
import { SluiceNode } from '../../gateway/node.js';
import { tempDir } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startTestMx, type TestMx, type TestMxOptions } from '../support/test-mx.js';
import { startDnsServer, type TestDnsServer, type Zone } from '../support/dns-server.js';
import { startRedis, type PrivateRedis } from '../support/redis-server.js';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export interface ShapingNode {
  readonly node: SluiceNode;
  readonly dir: string;
  readonly configFile: string;
  readonly port: number;
  readonly logs: LogLine[];
  events(name: string): LogLine[];
  /** Resolves with the first line of `event` (matching `where`), waiting for it if needed. */
  waitForEvent(name: string, where?: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/** Starts a node from `toml` (`${DIR}` → a fresh temp dir) with its log captured in memory. */
export async function startNode(toml: string, dir = tempDir('sluice-shaping-')): Promise<ShapingNode> {
  const configFile = join(dir, 'sluice.toml');
  writeFileSync(configFile, toml.replaceAll('${DIR}', dir));
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const stream = {
    write(line: string) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        return;
      }
      for (const w of [...waiters]) w();
      if (process.env['SLUICE_TEST_LOG']) process.stderr.write(line);
    },
  };
  const node = new SluiceNode({ loaded: loadConfig(configFile), logger: pino({ level: 'info' }, stream) });
  await node.start();
  const events = (name: string) => logs.filter((l) => l.event === name);
  return {
    node,
    dir,
    configFile,
    port: node.ports[0] as number,
    logs,
    events,
    waitForEvent(name, where = () => true, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events(name).find(where);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no "${name}" log line within ${timeoutMs} ms; last lines:\n${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => node.stop(),
  };
}

/**
 * A zone where `count` domains `d<i>.<suffix>` all have MX `mxHost`, which resolves to
 * `ip`: many recipient domains, one provider, one site.
 */
export function providerZone(suffix: string, count: number, mxHost: string, ip: string): Zone {
  const zone: Zone = { [mxHost]: { a: [ip] } };
  for (let i = 0; i < count; i++) zone[`d${i}.${suffix}`] = { mx: [{ priority: 10, exchange: mxHost }] };
  return zone;
}

export interface Submission {
  readonly to: readonly string[];
  readonly headers?: readonly string[];
  readonly from?: string;
}

/** Submits messages over one SMTP session, in order; throws on any refusal. */
export async function submit(port: number, messages: readonly Submission[]): Promise<void> {
  const c = await RawSmtp.open(port);
  try {
    await c.read();
    await c.cmd('EHLO app.test');
    for (const m of messages) {
      const r = await c.send(m.from ?? 'app@example.com', m.to, message({ to: m.to[0] ?? '', headers: [...(m.headers ?? [])] }));
      if (r?.code !== 250) throw new Error(`submission refused: ${r?.code} ${r?.text}`);
    }
    await c.cmd('QUIT');
  } finally {
    c.close();
  }
}

/** `n` recipients spread over the domains d0..d<domains-1>.<suffix>. */
export function recipients(prefix: string, n: number, suffix: string, domains: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@d${i % domains}.${suffix}`);
}

/** Watches the sum of open sessions over every peer IP of `mx` (excluding `ignore`, e.g. probes). */
export function watchTotalSessions(mx: TestMx, ignore: readonly string[] = ['127.0.0.1']): { peak(): number; stop(): void } {
  let peak = 0;
  let stopped = false;
  void mx
    .waitUntil((m) => {
      if (stopped) return true;
      let cur = 0;
      for (const [ip, s] of m.peers()) if (!ignore.includes(ip)) cur += s.current;
      peak = Math.max(peak, cur);
      return false;
    }, 600_000)
    .catch(() => undefined);
  return {
    peak: () => peak,
    stop: () => {
      stopped = true;
    },
  };
}

/** Messages per sending session the MX saw (nodemailer reuses one connection for several). */
export function messagesPerSession(mx: TestMx): number[] {
  const by = new Map<string, number>();
  for (const m of mx.messages) by.set(m.sessionId, (by.get(m.sessionId) ?? 0) + 1);
  return [...by.values()];
}

/** Average messages per second from `ip` between its first and last message. */
export function averageRate(mx: TestMx, ip: string | null = null): number {
  const times = mx.messages.filter((m) => ip === null || m.peerIp === ip).map((m) => m.at);
  if (times.length < 2) return 0;
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return span > 0 ? (times.length - 1) / span : Infinity;
}

/** A TOML value written verbatim (a date such as `start = 2026-01-01`, an inline table). */
export class TomlRaw {
  constructor(readonly text: string) {}
}
export const raw = (text: string): TomlRaw => new TomlRaw(text);

type TomlScalar = string | number | boolean | TomlRaw;
export type TomlValue = TomlScalar | readonly TomlValue[] | TomlTable;
export interface TomlTable {
  readonly [key: string]: TomlValue | undefined;
}

const isTable = (v: unknown): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof TomlRaw);
const tomlKey = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

function tomlValue(v: TomlValue): string {
  if (v instanceof TomlRaw) return v.text;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  const t = v as TomlTable;
  return `{ ${Object.entries(t).filter(([, x]) => x !== undefined).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x as TomlValue)}`).join(', ')} }`;
}

/**
 * `[path]` with the scalar keys of `table`, then each sub-table as `[path.key]` and each
 * array of tables as `[[path.key]]`.
 */
export function tomlSection(path: string, table: TomlTable, arrayItem = false): string {
  const head = arrayItem ? `[[${path}]]` : `[${path}]`;
  const lines = [head];
  const nested: string[] = [];
  for (const [k, v] of Object.entries(table)) {
    if (v === undefined) continue;
    const sub = `${path}.${tomlKey(k)}`;
    if (isTable(v) && !arrayItem) nested.push(tomlSection(sub, v));
    else if (Array.isArray(v) && v.length > 0 && v.every(isTable)) nested.push(...v.map((t) => tomlSection(sub, t as TomlTable, true)));
    else lines.push(`${tomlKey(k)} = ${tomlValue(v)}`);
  }
  return [lines.join('\n'), ...nested].join('\n');
}

/** A sending source: `ehlo` defaults to `<name>.shaping.test`. */
export interface SourceSpec extends TomlTable {
  readonly ip: string;
  readonly ehlo?: string;
}

export interface BaseConfig {
  /** The test DNS server's address ([dns] servers). */
  readonly dns: string;
  /** The port every delivery goes to ([delivery] port): the test MX's. */
  readonly mxPort: number;
  /** Extra [node] keys besides data_dir (id, drain_timeout). */
  readonly node?: TomlTable;
  /** [node] data_dir; `${DIR}/data` (the temp dir startNode fills in) unless given. */
  readonly dataDir?: string;
  /** [cluster] (redis_url, heartbeat, command_timeout). */
  readonly cluster?: TomlTable;
  /** The relay listener's port; 0 (any free one) unless given. */
  readonly listenPort?: number;
  readonly queue?: TomlTable;
  readonly plugins?: TomlTable;
  readonly routes?: readonly TomlTable[];
  readonly sources: Readonly<Record<string, SourceSpec>>;
  readonly pools: Readonly<Record<string, TomlTable>>;
  readonly warmup?: Readonly<Record<string, TomlTable>>;
  readonly providers?: Readonly<Record<string, TomlTable>>;
  /** Raw TOML appended at the end. */
  readonly extra?: string;
}

/** The TOML text of a relay node that sends to the test MX, resolving through the test DNS. */
export function baseConfig(c: BaseConfig): string {
  const sections = [
    tomlSection('node', { id: c.node?.['id'], data_dir: c.dataDir ?? '${DIR}/data', ...c.node }),
    c.cluster && tomlSection('cluster', c.cluster),
    tomlSection('listen', { host: '127.0.0.1', port: c.listenPort ?? 0, mode: 'relay' }, true),
    tomlSection('dns', { servers: [c.dns] }),
    tomlSection('delivery', { port: c.mxPort }),
    c.queue && tomlSection('queue', c.queue),
    c.plugins && tomlSection('plugins', c.plugins),
    ...(c.routes ?? []).map((r) => tomlSection('routes', r, true)),
    ...Object.entries(c.sources).map(([name, { ip, ehlo, ...rest }]) => tomlSection(`sources.${name}`, { ip, ehlo: ehlo ?? `${name}.shaping.test`, ...rest })),
    ...Object.entries(c.pools).map(([name, p]) => tomlSection(`pools.${name}`, p)),
    ...Object.entries(c.warmup ?? {}).map(([name, w]) => tomlSection(`warmup.${name}`, w)),
    ...Object.entries(c.providers ?? {}).map(([name, p]) => tomlSection(`providers.${name}`, p)),
    c.extra,
  ];
  return `\n${sections.filter((x): x is string => Boolean(x)).join('\n')}\n`;
}

/** The pieces a test's config is built from once the MX, DNS and Redis are up. */
export interface ShapingEnv {
  readonly mx: TestMx;
  readonly dns: TestDnsServer;
  /** Present when setupShaping was asked for Redis. */
  readonly redis: PrivateRedis;
}

export interface Shaping extends ShapingEnv {
  /** The nodes started, in the order of `configs` (none when no config was given). */
  readonly nodes: ShapingNode[];
  /** The first node. */
  readonly gw: ShapingNode;
  /** Stops the nodes, then the MX, the DNS server and Redis. */
  close(): Promise<void>;
}

export interface ShapingSetup {
  /** The test MX: its host and behaviour. */
  readonly mx: TestMxOptions;
  readonly zone: Zone;
  /** Start a private Redis first (for `[cluster] redis_url`). */
  readonly redis?: boolean;
  /** One node from baseConfig, [dns] and [delivery] filled in from the DNS server and the MX. */
  readonly config?: NodeConfig | ((env: ShapingEnv) => NodeConfig);
  /** Or: one TOML text per node to start (`${DIR}` → its temp dir). */
  readonly configs?: (env: ShapingEnv) => string | readonly string[];
}

/** A node's config without the parts setupShaping knows (the DNS server's address, the MX port). */
export type NodeConfig = Omit<BaseConfig, 'dns' | 'mxPort'>;

/** baseConfig with [dns] and [delivery] pointing at `env`'s DNS server and MX. */
export function nodeConfig(env: ShapingEnv, c: NodeConfig): string {
  return baseConfig({ dns: env.dns.address, mxPort: env.mx.port, ...c });
}

/** Starts Redis (if asked), the test MX, a DNS zone and the nodes; `close()` stops them all. */
export async function setupShaping(o: ShapingSetup): Promise<Shaping> {
  let redis: PrivateRedis | undefined;
  let mx: TestMx | undefined;
  let dns: TestDnsServer | undefined;
  const nodes: ShapingNode[] = [];
  const close = async () => {
    for (const n of nodes) await n.stop();
    await mx?.close();
    await dns?.close();
    await redis?.stop();
  };
  try {
    if (o.redis) redis = await startRedis();
    mx = await startTestMx(o.mx);
    dns = await startDnsServer(o.zone);
    const env: ShapingEnv = { mx, dns, redis: redis as PrivateRedis };
    const one = typeof o.config === 'function' ? o.config(env) : o.config;
    const configs = one ? [nodeConfig(env, one)] : (o.configs?.(env) ?? []);
    for (const toml of typeof configs === 'string' ? [configs] : configs) nodes.push(await startNode(toml));
    return { ...env, nodes, gw: nodes[0] as ShapingNode, close };
  } catch (err) {
    // Whatever did start is stopped; the test's afterAll has nothing to close.
    await close().catch(() => undefined);
    throw err;
  }
}

/** An MX `onData` that holds each message `ms` before accepting it. */
export const slowData = (ms: number) => () => new Promise<null>((r) => setTimeout(() => r(null), ms));

/** One message per recipient. */
export function oneEach(rcpts: readonly string[]): Submission[] {
  return rcpts.map((to) => ({ to: [to] }));
}

/** Messages of `size` recipients each, in order (optionally with `headers`). */
export function inBatches(rcpts: readonly string[], size: number, headers?: readonly string[]): Submission[] {
  return Array.from({ length: Math.ceil(rcpts.length / size) }, (_, k) => ({ to: rcpts.slice(k * size, k * size + size), ...(headers ? { headers } : {}) }));
}

/** How many messages the MX saw (from `ip`, or from all) and the seconds between the first and the last. */
/** Most messages the MX accepted (from `ip`, or from every IP) within any window of `windowMs`. */
export function peakWithin(mx: TestMx, windowMs = 1_000, ip: string | null = null): number {
  const times = mx.messages.filter((m) => ip === null || m.peerIp === ip).map((m) => m.at).sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

export function messageSpan(mx: TestMx, ip: string | null = null): { count: number; span: number } {
  const times = mx.messages.filter((m) => ip === null || m.peerIp === ip).map((m) => m.at);
  return { count: times.length, span: (Math.max(...times) - Math.min(...times)) / 1000 };
}

/**
 * setupShaping for the whole file: started in beforeAll (unless `skip`), closed in afterAll.
 * Read the pieces inside a test (`const { mx, gw } = shaping;`), once beforeAll has run.
 */
export function useShaping(o: ShapingSetup & { readonly skip?: boolean }): Shaping {
  let env: Shaping | undefined;
  beforeAll(async () => {
    if (!o.skip) env = await setupShaping(o);
  });
  afterAll(() => env?.close());
  const get = (): Shaping => {
    if (!env) throw new Error('useShaping: read before beforeAll ran (or skipped)');
    return env;
  };
  return {
    get mx() { return get().mx; },
    get dns() { return get().dns; },
    get redis() { return get().redis; },
    get nodes() { return get().nodes; },
    get gw() { return get().gw; },
    close: () => get().close(),
  };
}
