import { LoadtestError } from './errors.js';
import { DEFAULT_SOURCE_BASE, MAX_PROVIDERS, MAX_SOURCES, sourceBaseProblem } from './setup/topology.js';

export interface LoadtestOptions {
  readonly messages: number;
  readonly connections: number;
  readonly size: number; // bytes
  readonly domains: number;
  readonly providers: readonly string[];
  readonly dkim: 'rsa' | 'ed25519' | 'none';
  readonly target: { readonly host: string; readonly port: number } | null;
  readonly json: boolean;
  readonly html: string | null;
  readonly profileDir: string | null; // null: <project>/loadtest/profiles
  readonly keep: boolean;
  readonly sinkOnly: boolean;
  readonly sources: number;
  readonly unknownShare: number;
  readonly drainTimeoutMs: number;
  readonly stallMs: number;
  readonly maxDrainMs: number;
  readonly startTimeoutMs: number;
  readonly gatewayCli: string | null; // null: <project>/dist/gateway/cli/main.js
  readonly dnsPort: number | null; // null: a free port (10053 with --target)
  readonly sinkPort: number | null; // null: a free port (10025 with --target)
  readonly listenPort: number | null; // null: a free port (the gateway the load test starts)
  readonly sourceBase: string; // the first source IP; the others follow it
  readonly help: boolean;
}

export const USAGE = `usage: npm run loadtest -- [options]

  --messages N         messages to send (20000)
  --connections N      concurrent client connections (20)
  --size SIZE          message size with headers: 5KB, 2000, 1MB (5KB; KB = 1024 bytes)
  --domains N          recipient domains, spread round-robin over the providers (200)
  --providers LIST     simulated providers, profile names from --profile-dir (sink)
                       e.g. gmail,outlook,yahoo,other; shipped: sink gmail outlook yahoo strict other
  --dkim ALG           rsa | ed25519 | none: sign with a fresh key through the dkim plugin (none)
  --target HOST:PORT   drive a running gateway (loopback only); start only the simulators and DNS
  --sink-only          no gateway: the client straight against a sink simulator (its own ceiling)
  --json               print one JSON object on stdout instead of the table
  --html FILE          write a self-contained HTML report with charts
  --profile-dir DIR    where profiles live (<project>/loadtest/profiles)
  --keep               keep the work dir (config, gateway log, spool) after the run
  --sources N          gateway source IPs, from --source-base up (4)
  --source-base IP     the first source IP, on loopback (127.0.0.2); lt2 … take the next ones
  --listen-port N      the started gateway's relay port on 127.0.0.1 (a free one)
  --unknown SHARE      share of messages to unknown users, refused 550 5.1.1 (0)
  --drain-timeout DUR  wait at least this long after the last accept for deliveries (60s)
  --stall DUR          then stop once nothing arrived for this long (15s)
  --max-drain DUR      stop waiting after this long in any case (30m)
  --start-timeout DUR  how long the gateway may take to listen (30s)
  --gateway-cli FILE   the sluice CLI to start (<project>/dist/gateway/cli/main.js)
  --dns-port N         the DNS server's port on 127.0.0.1 (a free one; 10053 with --target)
  --sink-port N        the simulators' SMTP port, the gateway's [delivery] port (free; 10025 with --target)
  --help               this text
`;

type Flag = keyof LoadtestOptions;
const VALUE_FLAGS: Record<string, Flag> = {
  messages: 'messages', connections: 'connections', size: 'size', domains: 'domains', providers: 'providers',
  dkim: 'dkim', target: 'target', html: 'html', 'profile-dir': 'profileDir', sources: 'sources', unknown: 'unknownShare',
  'drain-timeout': 'drainTimeoutMs', stall: 'stallMs', 'max-drain': 'maxDrainMs', 'start-timeout': 'startTimeoutMs',
  'gateway-cli': 'gatewayCli', 'dns-port': 'dnsPort', 'sink-port': 'sinkPort', 'listen-port': 'listenPort', 'source-base': 'sourceBase',
};
const BOOL_FLAGS: Record<string, Flag> = { json: 'json', keep: 'keep', 'sink-only': 'sinkOnly', help: 'help' };

export function parseArgs(argv: readonly string[]): LoadtestOptions {
  const raw = new Map<Flag, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw usage(`unexpected argument "${arg}"`);
    const name = m[1] ?? '';
    const bool = BOOL_FLAGS[name];
    const valued = VALUE_FLAGS[name];
    if (bool) raw.set(bool, true);
    else if (valued) {
      const value = m[2] ?? argv[++i];
      if (value === undefined || (m[2] === undefined && value.startsWith('--'))) throw usage(`--${name} needs a value`);
      raw.set(valued, value);
    } else throw usage(`unknown flag --${name}${suggest(name)}`);
  }
  const str = (f: Flag): string | undefined => (typeof raw.get(f) === 'string' ? (raw.get(f) as string) : undefined);
  const opts: LoadtestOptions = {
    messages: int(str('messages'), 20000, 'messages', 1, 10_000_000),
    connections: int(str('connections'), 20, 'connections', 1, 2000),
    size: parseSize(str('size') ?? '5KB'),
    domains: int(str('domains'), 200, 'domains', 1, 100_000),
    providers: parseProviders(str('providers') ?? 'sink'),
    dkim: parseDkim(str('dkim') ?? 'none'),
    target: str('target') === undefined ? null : parseTarget(str('target') ?? ''),
    json: raw.has('json'),
    html: str('html') ?? null,
    profileDir: str('profileDir') ?? null,
    keep: raw.has('keep'),
    sinkOnly: raw.has('sinkOnly'),
    sources: int(str('sources'), 4, 'sources', 1, MAX_SOURCES),
    unknownShare: share(str('unknownShare')),
    drainTimeoutMs: parseDuration(str('drainTimeoutMs') ?? '60s', 'drain-timeout'),
    stallMs: parseDuration(str('stallMs') ?? '15s', 'stall'),
    maxDrainMs: parseDuration(str('maxDrainMs') ?? '30m', 'max-drain'),
    startTimeoutMs: parseDuration(str('startTimeoutMs') ?? '30s', 'start-timeout'),
    gatewayCli: str('gatewayCli') ?? null,
    dnsPort: str('dnsPort') === undefined ? null : int(str('dnsPort'), 0, 'dns-port', 1, 65535),
    sinkPort: str('sinkPort') === undefined ? null : int(str('sinkPort'), 0, 'sink-port', 1, 65535),
    listenPort: str('listenPort') === undefined ? null : int(str('listenPort'), 0, 'listen-port', 1, 65535),
    sourceBase: str('sourceBase') ?? DEFAULT_SOURCE_BASE,
    help: raw.has('help'),
  };
  if (opts.sinkOnly && opts.target) throw usage('--sink-only and --target exclude each other');
  if (opts.listenPort !== null && (opts.sinkOnly || opts.target)) throw usage('--listen-port is the port of the gateway the load test starts: not with --target or --sink-only');
  const clash = sourceBaseProblem(opts.sourceBase, opts.sources);
  if (clash) throw usage(clash);
  return opts;
}

function usage(message: string): LoadtestError {
  return new LoadtestError('USAGE', `${message} (see --help)`);
}

function int(value: string | undefined, dflt: number, name: string, min: number, max: number): number {
  if (value === undefined) return dflt;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) throw usage(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

function share(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value.endsWith('%') ? Number(value.slice(0, -1)) / 100 : value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw usage(`--unknown must be a share from 0 to 1 (or a percentage), not "${value}"`);
  return n;
}

/** "5KB" → 5120, "1MB" → 1048576, "2000" → 2000 (1 KB = 1024 bytes). */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|K|KIB|MB|M|MIB)?$/i.exec(value.trim());
  if (!m) throw usage(`--size must look like 5KB, 2000 or 1MB, not "${value}"`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const k = unit.startsWith('K') ? 1024 : unit.startsWith('M') ? 1024 * 1024 : 1;
  const n = Math.round(Number(m[1]) * k);
  if (n < 200 || n > 50 * 1024 * 1024) throw usage(`--size must be from 200 bytes to 50MB, not "${value}"`);
  return n;
}

/** "60s", "500ms", "2m", "1h", or plain seconds. */
export function parseDuration(value: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw usage(`--${name} must look like 60s, 500ms or 2m, not "${value}"`);
  const k = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * k;
}

function parseProviders(value: string): string[] {
  const names = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.length === 0) throw usage('--providers needs at least one profile name');
  if (names.length > MAX_PROVIDERS) throw usage(`--providers takes at most ${MAX_PROVIDERS} names`);
  for (const n of names) if (!/^[a-z][a-z0-9-]{0,30}$/.test(n)) throw usage(`--providers: "${n}" is not a profile name`);
  if (new Set(names).size !== names.length) throw usage('--providers names a profile twice');
  return names;
}

function parseDkim(value: string): LoadtestOptions['dkim'] {
  if (value === 'rsa' || value === 'ed25519' || value === 'none') return value;
  throw usage(`--dkim must be rsa, ed25519 or none, not "${value}"`);
}

/** Loopback only: the load test never connects outside 127.0.0.0/8. */
function parseTarget(value: string): { host: string; port: number } {
  const m = /^([^:]+):(\d{1,5})$/.exec(value);
  const host = m?.[1] === 'localhost' ? '127.0.0.1' : m?.[1];
  const port = Number(m?.[2]);
  if (!host || !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || !(port > 0 && port < 65536)) {
    throw usage(`--target must be HOST:PORT on loopback (127.0.0.0/8), not "${value}"`);
  }
  return { host, port };
}

function suggest(name: string): string {
  const all = [...Object.keys(VALUE_FLAGS), ...Object.keys(BOOL_FLAGS)];
  const near = all.find((f) => f.startsWith(name.slice(0, 3)));
  return near ? ` (did you mean --${near}?)` : '';
}
