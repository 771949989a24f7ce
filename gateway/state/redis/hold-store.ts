import type { Hold, HoldStore } from '../types.js';
import { holdSchema } from '../embedded/hold-store.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asInteger, asStrings, badReply, parseJson } from './replies.js';
import { allHolds } from './scripts/all-holds-1.js';
import { liftHold } from './scripts/lift-hold-1.js';

/** Holds for the fleet: one hash, scope → JSON hold; expiry by the Redis clock. */
export class RedisHolds implements HoldStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async set(hold: Hold): Promise<void> {
    const copy = holdSchema.parse(hold);
    await this.#conn.run('hold set', (redis) => redis.hset(this.#keys.holds(), copy.scope, JSON.stringify(copy)));
  }

  async lift(scope: string): Promise<boolean> {
    return asInteger('hold lift', await this.#conn.script(liftHold, [this.#keys.holds()], [scope])) === 1;
  }

  async all(): Promise<readonly Hold[]> {
    const reply = await this.#conn.script(allHolds, [this.#keys.holds()], []);
    return asStrings('holds', reply).map((text) => {
      const parsed = holdSchema.safeParse(parseJson('holds', text));
      if (!parsed.success) throw badReply('holds', text);
      return parsed.data;
    });
  }
}
