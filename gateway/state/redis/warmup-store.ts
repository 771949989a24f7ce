import { randomUUID } from 'node:crypto';
import type { WarmupStore } from '../types.js';
import { checkDay } from '../embedded/checks.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asInteger, asIntegers } from './replies.js';
import { addWarmup } from './scripts/add-warmup-1.js';
import { giveBackWarmup } from './scripts/give-back-warmup-1.js';
import { takeWarmup } from './scripts/take-warmup-2.js';

/** A day's counter lives past its day for late give-backs and status, then goes. */
const COUNTER_TTL_MS = 3 * 86_400_000;
/** How long an op id is remembered: long enough for any retry of the same call. */
const OP_MEMORY_MS = 60_000;

/** Warm-up counts per (source, UTC day), shared by the fleet. */
export class RedisWarmup implements WarmupStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;
  readonly #newId: () => string;

  constructor(conn: RedisConnection, keys: StateKeys, newId: () => string = randomUUID) {
    this.#conn = conn;
    this.#keys = keys;
    this.#newId = newId;
  }

  async take(source: string, day: string, cap: number): Promise<boolean> {
    return (await this.takeCounted(source, day, cap, this.#newId())).ok;
  }

  /** take() with an op id (a retry with the same id counts once) that also reports `used`. */
  async takeCounted(source: string, day: string, cap: number, opId: string): Promise<{ ok: boolean; used: number }> {
    checkDay(day);
    const reply = await this.#conn.script(
      takeWarmup,
      [this.#keys.warmup(source, day), this.#keys.warmupOps(source, day)],
      [cap, opId, COUNTER_TTL_MS, OP_MEMORY_MS],
    );
    const [ok, used] = asIntegers('warm-up take', reply, 2);
    return { ok: ok === 1, used: used ?? 0 };
  }

  async giveBack(source: string, day: string): Promise<void> {
    checkDay(day);
    await this.#conn.script(giveBackWarmup, [this.#keys.warmup(source, day)], []);
  }

  async used(source: string, day: string): Promise<number> {
    checkDay(day);
    const reply = await this.#conn.run('warm-up used', (redis) => redis.get(this.#keys.warmup(source, day)));
    return reply === null ? 0 : asInteger('warm-up used', reply);
  }

  /** Adds messages counted elsewhere (a node's own count while Redis was away). */
  async add(source: string, day: string, messages: number): Promise<number> {
    checkDay(day);
    const reply = await this.#conn.script(addWarmup, [this.#keys.warmup(source, day)], [messages, COUNTER_TTL_MS]);
    return asInteger('warm-up add', reply);
  }
}
