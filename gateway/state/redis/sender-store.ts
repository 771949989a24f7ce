import type { SenderEntry, SenderStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { badReply } from './replies.js';

/**
 * Original envelope senders for the fleet: one string key per message, `SET … PX ttl`,
 * so Redis drops each when the bounce window is over. A batch goes as one pipeline, not
 * a script: the entries are independent (nothing to make atomic) and one key each keeps
 * them spread over a Redis Cluster's slots.
 */
export class RedisSenders implements SenderStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async record(entries: readonly SenderEntry[], ttlMs: number): Promise<void> {
    if (entries.length === 0) return;
    const ttl = Math.max(1, Math.round(ttlMs));
    const replies = await this.#conn.run('senders record', (redis) => {
      const batch = redis.pipeline();
      for (const e of entries) batch.set(this.#keys.sender(e.queueId.toUpperCase()), e.sender, 'PX', ttl);
      return batch.exec();
    });
    for (const [err] of replies ?? []) if (err) throw badReply('senders record', err.message);
  }

  async get(queueId: string): Promise<string | null> {
    const reply: unknown = await this.#conn.run('senders get', (redis) => redis.get(this.#keys.sender(queueId.toUpperCase())));
    if (reply !== null && typeof reply !== 'string') throw badReply('senders get', reply);
    return reply;
  }
}
