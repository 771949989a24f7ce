/**
 * Versioned config rollout through Redis (`[cluster] config = "redis"`).
 *
 * `sluice config push` validates a config with its includes and publishes its files as a
 * new version (one Lua script: number, store, announce). Nodes in "redis" mode apply each
 * new version through the same path as a reload: the version's files are loaded as if
 * they sat beside the node's own config file (so relative paths name this node's files),
 * validated in full, and the sections a reload may change are applied; the node's own
 * file keeps the restart-only ones (node, cluster, listen, tls, admin...). A version that
 * does not load on a node leaves the last good one running, with an error in the log,
 * the status and `sluice_config_rollout_failures_total`. A node that starts runs the
 * newest version that loads on it (older ones are tried in turn); SIGHUP and the admin
 * reload try the newer ones again (the operator may have fixed what a node lacked). The
 * version a node applied last is kept in its data_dir: one that starts while Redis cannot
 * be read runs it, not its own file's sections.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { ConfigError, loadConfig, type LoadedConfig, type LoadOptions } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { rolloutMetrics, type RolloutMetrics } from '../observe/metrics.js';

export interface ConfigBundle {
  readonly version: number;
  /** ms since the epoch. */
  readonly at: number;
  readonly by: string;
  readonly note: string;
  /** The main file's name; `files` names are relative to its directory. */
  readonly main: string;
  /** The main file's absolute path where it was pushed from (absent in versions pushed before it was kept). */
  readonly from?: string;
  readonly files: readonly { readonly name: string; readonly text: string }[];
}

export type NewBundle = Omit<ConfigBundle, 'version' | 'at'>;

// KEYS: sequence, versions hash. ARGV: bundle JSON without version/at, now (ms), channel.
const PUSH = `
local v = redis.call('INCR', KEYS[1])
local b = cjson.decode(ARGV[1])
b.version = v
b.at = tonumber(ARGV[2])
redis.call('HSET', KEYS[2], tostring(v), cjson.encode(b))
redis.call('PUBLISH', ARGV[3], tostring(v))
return v`;

/** The versions in Redis: push, read, list. One connection; `close()` ends it. */
export class ConfigVersions {
  readonly #redis: Redis;
  readonly #keys: { seq: string; versions: string; channel: string };

  readonly #url: string;
  #lastError: Error | null = null;

  /** `once`: a command-line tool's connection (one try, no reconnects: `open()` says why it failed). */
  constructor(url: string, prefix: string, mode: 'node' | 'once' = 'node') {
    this.#url = url;
    this.#redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, ...(mode === 'once' ? { retryStrategy: () => null } : {}) });
    // Failures reach the caller through the commands (and open()); without a listener ioredis prints each one.
    this.#redis.on('error', (err: Error) => {
      this.#lastError = err;
    });
    this.#keys = { seq: `${prefix}config:seq`, versions: `${prefix}config:versions`, channel: `${prefix}config:published` };
  }

  /** Connects now; an unreachable Redis throws an error that names it and what to check. */
  async open(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (err) {
      // ioredis rejects with "Connection is closed."; the socket's own error says why.
      const cause = this.#lastError ?? (err as Error);
      const why = (cause as NodeJS.ErrnoException).code ?? cause.message;
      throw new SluiceError('STATE_UNAVAILABLE', `cannot reach Redis at ${this.#url} (${why}): check that it runs there, or give --redis redis://host:port/db`, { cause: err });
    }
  }

  get channel(): string {
    return this.#keys.channel;
  }

  async push(bundle: NewBundle): Promise<number> {
    const v = await this.#redis.eval(PUSH, 2, this.#keys.seq, this.#keys.versions, JSON.stringify(bundle), String(Date.now()), this.#keys.channel);
    return Number(v);
  }

  async latest(): Promise<number> {
    return Number((await this.#redis.get(this.#keys.seq)) ?? 0);
  }

  async get(version: number): Promise<ConfigBundle | null> {
    const raw = await this.#redis.hget(this.#keys.versions, String(version));
    return raw === null ? null : parseBundle(raw);
  }

  async history(): Promise<ConfigBundle[]> {
    const all = await this.#redis.hgetall(this.#keys.versions);
    return Object.values(all).map(parseBundle).sort((a, b) => a.version - b.version);
  }

  /** A second connection for SUBSCRIBE (a subscribed connection can do nothing else). */
  subscriber(): Redis {
    return this.#redis.duplicate();
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}

function parseBundle(raw: string): ConfigBundle {
  const b = JSON.parse(raw) as ConfigBundle;
  if (typeof b.version !== 'number' || typeof b.main !== 'string' || !Array.isArray(b.files)) throw new SluiceError('CONFIG_INVALID', 'a config version in Redis is not a config bundle');
  return b;
}

/** Validates FILE with its includes (throws ConfigError) and returns its files as a bundle. */
export function bundleFromFile(file: string, by: string, note: string, options: LoadOptions = {}): NewBundle {
  const loaded = loadConfig(file, options);
  const base = dirname(resolve(file));
  return { by, note, main: relative(base, resolve(file)), from: resolve(file), files: loaded.files.map((f) => ({ name: relative(base, f.path), text: f.text })) };
}

/**
 * Loads a version as if its files sat beside `localMain` (the node's own config file):
 * relative paths in it name this node's files. Throws ConfigError when it does not load.
 */
export function loadBundle(bundle: ConfigBundle, localMain: string, options: LoadOptions = {}): LoadedConfig {
  const base = dirname(resolve(localMain));
  const texts = new Map(bundle.files.map((f) => [resolve(base, f.name), f.text]));
  const read = (path: string): string => {
    const text = texts.get(resolve(path));
    if (text === undefined) throw Object.assign(new Error(`${path} is not in config version ${bundle.version}`), { code: `not in version ${bundle.version}` });
    return text;
  };
  return loadConfig(join(base, bundle.main), { ...options, read });
}

/**
 * Why a version does not load, each issue under the version's name and the path it was
 * pushed from (`config version 2 (pushed from /etc/sluice/fleet.toml):11 admin.token_file: …`):
 * its line numbers are the pushed file's, not those of the node's own file loadBundle read it as.
 */
export function refusalErrors(err: unknown, bundle: ConfigBundle, localMain: string): string[] {
  if (!(err instanceof ConfigError)) return [(err as Error).message];
  const base = dirname(resolve(localMain));
  const names = new Map(bundle.files.map((f) => [resolve(base, f.name), f.name]));
  const origin = bundle.from === undefined ? null : dirname(bundle.from);
  return err.issues.map((issue) => {
    const name = names.get(resolve(issue.file));
    if (name === undefined) return formatIssue(issue);
    return formatIssue({ ...issue, file: `config version ${bundle.version} (${origin === null ? name : `pushed from ${join(origin, name)}`})` });
  });
}

export interface RolloutStatus {
  /** The version running (0: none applied yet, the node's own file). */
  readonly version: number;
  /** The last version that did not apply here, and why. */
  readonly failed: { readonly version: number; readonly errors: readonly string[]; readonly at: number } | null;
  /** The newest version in Redis when this node last read it (0: none pushed, or not read yet). */
  readonly latest: number;
}

export interface RolloutDeps {
  readonly versions: ConfigVersions;
  readonly localMain: string;
  readonly options: LoadOptions;
  /** The reload path: applies a loaded config (restart-only sections stay). */
  readonly apply: (loaded: LoadedConfig, by: string) => Promise<unknown>;
  readonly log: Logger;
  readonly registry: Registry;
  readonly pollMs: number;
  /** Where the version applied last is kept (`<data_dir>/config-version.json`). */
  readonly memory: string;
}

/** A node's side: follows the versions in Redis and applies each new one. */
export class ConfigRollout {
  readonly #d: RolloutDeps;
  #version = 0;
  #good: ConfigBundle | null = null;
  #failed: RolloutStatus['failed'] = null;
  #latestSeen = 0;
  #sub: Redis | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #metrics: RolloutMetrics;

  constructor(deps: RolloutDeps) {
    this.#d = deps;
    this.#metrics = rolloutMetrics(deps.registry, () => this.#version);
  }

  status(): RolloutStatus {
    return { version: this.#version, failed: this.#failed, latest: Math.max(this.#latestSeen, this.#version) };
  }

  /** The version running, loaded again (SIGHUP in redis mode re-applies it, not the local file). */
  current(): LoadedConfig | null {
    return this.#good ? loadBundle(this.#good, this.#d.localMain, this.#d.options) : null;
  }

  /**
   * Before the node builds anything: the newest version that loads here goes through
   * `apply` (which puts it in the config the node will start with), so the node never
   * routes mail with its own file's sections while a good version exists. Each newer one
   * that does not load is refused as in check(); when none loads, the node runs its own
   * file, with an error.
   */
  prime(apply: (loaded: LoadedConfig) => Promise<void>): Promise<void> {
    return this.#serial(async () => {
      const latest = await this.#latest();
      if (latest === null) return this.#fromMemory(apply);
      if (latest === 0) return;
      if ((await this.#walk(latest, apply)) !== null) return;
      this.#d.log.error({ event: 'config_no_version_applies', latest }, `no config version (1 to ${latest}) applies on this node: it runs its own file's sections until one does`);
    });
  }

  /** Follows the versions from now on: the newest now, then each one announced or polled. */
  async start(): Promise<void> {
    await this.check();
    const sub = this.#d.versions.subscriber();
    this.#sub = sub;
    sub.on('message', () => void this.check());
    sub.on('error', () => undefined);
    await sub.subscribe(this.#d.versions.channel).catch((err: unknown) => this.#d.log.warn({ err }, 'config rollout: cannot subscribe; polling only'));
    // Polling as well: a message published while the subscription was down is not replayed.
    this.#timer = setInterval(() => void this.check(), this.#d.pollMs);
    this.#timer.unref();
  }

  /** Applies the newest version if it is newer than the one running and not refused already (one check at a time). */
  check(): Promise<void> {
    this.#running ??= this.#serial(async () => {
      const latest = await this.#latest();
      if (latest === null || latest <= this.#version || latest === this.#failed?.version) return;
      const bundle = await this.#bundle(latest);
      if (bundle !== null) await this.#try(bundle, this.#d.apply, this.#keeps());
    }).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /**
   * SIGHUP and the admin reload: the newest version newer than the one running that loads
   * now, refused ones included (the operator may have added what this node lacked).
   * `apply`'s result when one applied, else null (the caller re-applies the running one).
   */
  retry<T>(apply: (loaded: LoadedConfig, by: string) => Promise<T>): Promise<T | null> {
    return this.#serial(async () => {
      const latest = await this.#latest();
      if (latest === null || latest <= this.#version) return null;
      return (await this.#walk(latest, apply))?.result ?? null;
    });
  }

  /** Tries `latest`, then each older one down to the one running; stops at the first that applies. */
  async #walk<T>(latest: number, apply: (loaded: LoadedConfig, by: string) => Promise<T>): Promise<{ readonly result: T } | null> {
    for (let v = latest; v > this.#version; v--) {
      const bundle = await this.#bundle(v);
      const then = v - 1 > this.#version ? `trying version ${v - 1}` : this.#keeps();
      const applied = bundle === null ? null : await this.#try(bundle, apply, then);
      if (applied !== null) return applied;
    }
    return null;
  }

  /** Loads and applies one version; a refusal is logged, counted and kept in the status (the newest one refused). */
  async #try<T>(bundle: ConfigBundle, apply: (loaded: LoadedConfig, by: string) => Promise<T>, then: string): Promise<{ readonly result: T } | null> {
    const { log, localMain, options } = this.#d;
    const v = bundle.version;
    let result: T;
    try {
      result = await apply(loadBundle(bundle, localMain, options), `config version ${v}`);
    } catch (err) {
      const errors = refusalErrors(err, bundle, localMain);
      if (this.#failed === null || v >= this.#failed.version) this.#failed = { version: v, errors, at: Date.now() };
      this.#metrics.refused();
      log.error({ event: 'config_version_refused', version: v, running: this.#version, errors }, `config version ${v} does not apply on this node; ${then}:\n${errors.join('\n')}`);
      return null;
    }
    this.#version = v;
    this.#good = bundle;
    if (this.#failed !== null && this.#failed.version <= v) this.#failed = null;
    log.info({ event: 'config_version_applied', version: v, by: bundle.by, note: bundle.note }, `config version ${v} applied`);
    await this.#remember(bundle);
    return { result };
  }

  /** Keeps `bundle` as the version applied last: written to a temp file, then renamed over (never half a file). */
  async #remember(bundle: ConfigBundle): Promise<void> {
    const { memory, log } = this.#d;
    try {
      await mkdir(dirname(memory), { recursive: true });
      await writeFile(`${memory}.tmp`, JSON.stringify(bundle));
      await rename(`${memory}.tmp`, memory);
    } catch (err) {
      log.warn({ err, file: memory }, 'config rollout: cannot keep the version applied in data_dir; a start without Redis would run this node\'s own file');
    }
  }

  /** At start without Redis: the version this node applied last, if it still loads. */
  async #fromMemory(apply: (loaded: LoadedConfig) => Promise<void>): Promise<void> {
    const { memory, log } = this.#d;
    let bundle: ConfigBundle;
    try {
      bundle = parseBundle(await readFile(memory, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ err, file: memory }, 'config rollout: cannot read the version applied last; this node runs its own file until Redis answers');
      return;
    }
    log.warn({ event: 'config_version_from_memory', version: bundle.version, file: memory }, `config rollout: Redis cannot say the newest version; starting on version ${bundle.version}, the one this node applied last`);
    await this.#try(bundle, apply, this.#keeps());
  }

  #keeps(): string {
    return this.#version === 0 ? "this node's own file keeps running" : `version ${this.#version} keeps running`;
  }

  /** The newest version number, null when Redis cannot say (the running config stays). */
  async #latest(): Promise<number | null> {
    try {
      const latest = await this.#d.versions.latest();
      this.#latestSeen = latest;
      return latest;
    } catch (err) {
      this.#d.log.warn({ err }, 'config rollout: cannot read the latest version; the running config stays');
      return null;
    }
  }

  async #bundle(version: number): Promise<ConfigBundle | null> {
    return this.#d.versions.get(version).catch(() => null);
  }

  /** One check, retry or prime at a time: each sees the version the one before applied. */
  #serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(f);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#sub?.disconnect();
    await this.#d.versions.close();
  }
}
