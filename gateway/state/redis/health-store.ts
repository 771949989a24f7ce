import type { HealthCounts, HealthOutcome, HealthStore } from '../types.js';
import { BUCKET_MS, KEEP_MS } from '../embedded/health-windows.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asIntegers } from './replies.js';
import { countHealth } from './scripts/count-health-1.js';
import { recordHealth } from './scripts/record-health-1.js';

/** Outcome counts per (source, provider) in 10-second buckets over the last hour, fleet-wide. */
export class RedisHealth implements HealthStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async record(source: string, provider: string, outcome: HealthOutcome): Promise<void> {
    await this.#conn.script(recordHealth, [this.#keys.health(source, provider)], [outcome, BUCKET_MS, KEEP_MS]);
  }

  async counts(source: string, provider: string, windowMs: number): Promise<HealthCounts> {
    const reply = await this.#conn.script(
      countHealth,
      [this.#keys.health(source, provider)],
      [Math.ceil(windowMs), BUCKET_MS],
    );
    const [delivered = 0, deferred = 0, bounced = 0, complained = 0] = asIntegers('health counts', reply, 4);
    return { delivered, deferred, bounced, complained };
  }
}
