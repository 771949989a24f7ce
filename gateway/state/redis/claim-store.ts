import type { ClaimStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { badReply } from './replies.js';

/**
 * Claim once for the fleet: `SET key 1 NX PX ttl`, one command and atomic in Redis, so
 * no script; Redis drops the key when its TTL is over. A command that times out may
 * still run later: the caller then sees an error for a claim that was taken, and must
 * treat an error as "not known to be claimed", never as "claimed".
 */
export class RedisClaims implements ClaimStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.round(ttlMs));
    const reply: unknown = await this.#conn.run('claim', (redis) => redis.set(this.#keys.claim(key), '1', 'PX', ttl, 'NX'));
    if (reply === 'OK') return true;
    if (reply === null) return false;
    throw badReply('claim', reply);
  }
}
