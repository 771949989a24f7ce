import type { AttemptResult, FailureClaim, FailureLimitStore } from '../types.js';
import { checkClaim } from '../embedded/failure-store.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asInteger } from './replies.js';
import { attemptFailures } from './scripts/attempt-failures-n.js';
import { refundFailures } from './scripts/refund-failures-n.js';

/** Guessing limits for the fleet: one hash per key, windows and locks on the Redis clock. */
export class RedisFailures implements FailureLimitStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async attempt(claims: readonly FailureClaim[]): Promise<AttemptResult> {
    const unique = [...new Map(claims.map((c) => [c.key, c])).values()];
    unique.forEach(checkClaim);
    if (unique.length === 0) return { ok: true };
    const reply = await this.#conn.script(
      attemptFailures,
      unique.map((c) => this.#keys.failure(c.key)),
      unique.flatMap((c) => [c.limit, c.windowMs, c.lockoutMs]),
    );
    const retryAfterMs = asInteger('failure attempt', reply);
    return retryAfterMs > 0 ? { ok: false, retryAfterMs } : { ok: true };
  }

  async refund(keys: readonly string[]): Promise<void> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return;
    await this.#conn.script(refundFailures, unique.map((k) => this.#keys.failure(k)), []);
  }
}
