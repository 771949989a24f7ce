import type { ReplicaLedger } from '../replica-ledger.js';
import { RedisConnection } from './connection.js';
import { DEFAULT_PREFIX, stateKeys, type StateKeys } from './keys.js';
import { asArray, asStrings, badReply } from './replies.js';
import { claimReplicas } from './scripts/claim-replicas-2.js';
import { collectTaken } from './scripts/collect-taken-2.js';

/** Batches of final ids kept per origin (approximate trim): far more than a takeover ever needs. */
const FINAL_STREAM_LENGTH = 200_000;
const READ_PAGE = 500;

export interface RedisReplicaLedgerOptions {
  readonly url: string;
  readonly prefix?: string;
  readonly commandTimeoutMs?: number;
}

/**
 * The replica ledger on Redis, on its own connection (a slow takeover read never delays
 * a throttle call). Finals are a stream per origin (holders keep a cursor each, so any
 * number of holders read one publish); takeovers a hash per origin next to the registry.
 */
export class RedisReplicaLedger implements ReplicaLedger {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(options: RedisReplicaLedgerOptions) {
    this.#conn = new RedisConnection({ url: options.url, ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }) }, [claimReplicas, collectTaken]);
    this.#keys = stateKeys(options.prefix ?? DEFAULT_PREFIX);
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    return this.#conn.waitReady(timeoutMs);
  }

  async publishFinal(origin: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#conn.run('replica final', (redis) => redis.xadd(this.#keys.replicaFinal(origin), 'MAXLEN', '~', FINAL_STREAM_LENGTH, '*', 'ids', ids.join(',')));
  }

  async readFinal(origin: string, cursor: string): Promise<{ ids: string[]; cursor: string }> {
    const start = cursor === '0' ? '-' : `(${cursor}`;
    const reply = asArray('replica final read', await this.#conn.run('replica final read', (redis) => redis.xrange(this.#keys.replicaFinal(origin), start, '+', 'COUNT', READ_PAGE)));
    const ids: string[] = [];
    let next = cursor;
    for (const entry of reply) {
      const [id, fields] = asArray('replica final read', entry);
      if (typeof id !== 'string') throw badReply('replica final read', entry);
      const values = asStrings('replica final read', fields);
      for (let i = 0; i + 1 < values.length; i += 2) if (values[i] === 'ids') ids.push(...(values[i + 1] ?? '').split(',').filter(Boolean));
      next = id;
    }
    return { ids, cursor: next };
  }

  async claim(origin: string, holder: string, ids: readonly string[]): Promise<string[] | null> {
    if (ids.length === 0) return [];
    const reply = await this.#conn.script(claimReplicas, [this.#keys.nodes(), this.#keys.replicaTaken(origin)], [origin, holder, ...ids]);
    return reply === null ? null : asStrings('replica claim', reply);
  }

  async collectTaken(origin: string, ttlMs: number): Promise<Map<string, string>> {
    const flat = asStrings('replica collect', await this.#conn.script(collectTaken, [this.#keys.nodes(), this.#keys.replicaTaken(origin)], [origin, Math.ceil(ttlMs)]));
    const taken = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) taken.set(flat[i] as string, flat[i + 1] as string);
    return taken;
  }

  async forgetTaken(origin: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#conn.run('replica forget', (redis) => redis.hdel(this.#keys.replicaTaken(origin), ...ids));
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}
