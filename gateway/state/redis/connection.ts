import { Redis } from 'ioredis';
import { SluiceError } from '../../errors.js';
import type { ScriptDef } from './script-def.js';

export interface RedisConnectionOptions {
  readonly url: string;
  /** Every command fails after this long instead of hanging (default 500 ms). */
  readonly commandTimeoutMs?: number;
  /** A TCP connect attempt gives up after this long (default 1 s). */
  readonly connectTimeoutMs?: number;
}

/** Reconnect delays grow to this and stay there: keep trying forever, but calmly. */
const MAX_RECONNECT_DELAY_MS = 2_000;
const PROBE_EVERY_MS = 250;
/** Replies that mean "Redis cannot serve now", unlike a bug in a script. */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|BUSY|OOM|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b/;

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * One ioredis client set up to fail fast: no offline queue, no retrying of a command
 * across reconnects (a retried script could act twice), a timeout on every command,
 * and reconnects with a bounded delay. healthy() follows the connection: false on
 * close or on a timeout, true again on 'ready' or on the first answer after a timeout.
 */
export class RedisConnection {
  readonly #redis: Redis;
  /** How long a command may take before it fails (and may still run in Redis later). */
  readonly commandTimeoutMs: number;
  #healthy = false;
  #closed = false;
  #probe: NodeJS.Timeout | null = null;

  constructor(options: RedisConnectionOptions, scripts: readonly ScriptDef[]) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 500;
    this.#redis = new Redis(options.url, {
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 1_000,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), MAX_RECONNECT_DELAY_MS),
    });
    for (const script of scripts) {
      this.#redis.defineCommand(script.name, {
        lua: script.lua,
        ...(script.numberOfKeys === 'dynamic' ? {} : { numberOfKeys: script.numberOfKeys }),
      });
    }
    this.#redis.on('ready', () => {
      this.#healthy = true;
    });
    const lost = (): void => {
      this.#healthy = false;
    };
    this.#redis.on('close', lost);
    this.#redis.on('end', lost);
    this.#redis.on('reconnecting', lost);
    // Without a listener an 'error' event would crash the process; the state shows in healthy().
    this.#redis.on('error', lost);
  }

  healthy(): boolean {
    return this.#healthy && !this.#closed;
  }

  /** Resolves true once connected, false after `timeoutMs` (the client keeps trying). */
  async waitReady(timeoutMs: number): Promise<boolean> {
    if (this.#redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.#redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#redis.on('ready', onReady);
    });
  }

  /** Runs one script; every failure becomes STATE_UNAVAILABLE. */
  script(script: ScriptDef, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[script.name];
    if (call === undefined) throw new SluiceError('STATE_UNAVAILABLE', `redis script ${script.name} is not defined`);
    const head = script.numberOfKeys === 'dynamic' ? [keys.length] : [];
    return this.run(script.name, () => call.call(this.#redis, ...head, ...keys, ...args));
  }

  /** Runs any client call with the same failure handling as scripts. */
  async run<T>(what: string, call: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new SluiceError('STATE_UNAVAILABLE', `redis ${what}: client closed`);
    try {
      const result = await call(this.#redis);
      if (this.#redis.status === 'ready') this.#healthy = true;
      return result;
    } catch (error) {
      if (!isScriptBug(error)) this.#markUnhealthy();
      const message = error instanceof Error ? error.message : String(error);
      throw new SluiceError('STATE_UNAVAILABLE', `redis ${what} failed: ${message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#healthy = false;
    if (this.#probe !== null) clearTimeout(this.#probe);
    this.#redis.disconnect(false);
  }

  /**
   * A timeout leaves the socket up, so no 'ready' will come to say Redis is back:
   * PING until it answers.
   */
  #markUnhealthy(): void {
    this.#healthy = false;
    if (this.#probe !== null || this.#closed) return;
    this.#probe = setTimeout(() => {
      this.#probe = null;
      if (this.#closed || this.#healthy) return;
      if (this.#redis.status !== 'ready') return; // 'ready' will flip it back
      this.#redis.ping().then(
        () => {
          if (!this.#closed) this.#healthy = true;
        },
        () => this.#markUnhealthy(),
      );
    }, PROBE_EVERY_MS);
    this.#probe.unref();
  }
}

/** A reply error from a script (a bug, not an outage): Redis answered, so it is up. */
function isScriptBug(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(error.message);
}
