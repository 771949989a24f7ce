import type { SuppressionEntry, SuppressionStore } from '../types.js';
import {
  SUPPRESSION_REASONS,
  domainKeyOf,
  reasonAt,
  reasonIndex,
  suppressionKey,
} from '../embedded/suppression-key.js';
import { normaliseEntry } from '../embedded/suppression-store.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asArray, asInteger, badReply } from './replies.js';
import { checkSuppression } from './scripts/check-suppression-2.js';

/** Fields per HSET/HDEL: one huge command would stall Redis for everyone. */
const FIELDS_PER_COMMAND = 1_000;
const SCAN_COUNT = 1_000;

/** `reason-index TAB at TAB source`: about a third of the JSON for the same entry. */
function encode(entry: SuppressionEntry): string {
  return `${reasonIndex(entry.reason)}\t${entry.at}\t${entry.source}`;
}

function decode(address: string, value: string): SuppressionEntry {
  const [reason, at, ...source] = value.split('\t');
  const reasonIdx = Number(reason);
  const ms = Number(at);
  const knownReason = Number.isInteger(reasonIdx) && reasonIdx >= 0 && reasonIdx < SUPPRESSION_REASONS.length;
  if (!knownReason || !Number.isFinite(ms)) throw badReply('suppression entry', value);
  return { address, reason: reasonAt(reasonIdx), at: ms, source: source.join('\t') };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The cluster's suppression list: one hash for addresses and one for `@domain`
 * entries (field = key, value = encoded entry), so a check is two HGETs in one script.
 */
export class RedisSuppression implements SuppressionStore {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async add(entries: readonly SuppressionEntry[]): Promise<number> {
    // Last one wins within a batch, as it would if the entries came one by one.
    const byKey = new Map(entries.map(normaliseEntry).map((entry) => [entry.address, entry]));
    const unique = [...byKey.values()];
    if (unique.length === 0) return 0;
    const replies = await this.#conn.run('suppression add', (redis) => {
      const tx = redis.multi();
      for (const batch of chunks(unique, FIELDS_PER_COMMAND)) {
        for (const [hash, part] of this.#split(batch, (entry) => entry.address)) {
          tx.hset(hash, ...part.flatMap((entry) => [entry.address, encode(entry)]));
        }
      }
      return tx.exec();
    });
    return sumReplies('suppression add', replies);
  }

  async remove(addresses: readonly string[]): Promise<number> {
    const keys = [...new Set(addresses.map(suppressionKey))];
    if (keys.length === 0) return 0;
    const replies = await this.#conn.run('suppression remove', (redis) => {
      const tx = redis.multi();
      for (const batch of chunks(keys, FIELDS_PER_COMMAND)) {
        for (const [hash, part] of this.#split(batch, (key) => key)) tx.hdel(hash, ...part);
      }
      return tx.exec();
    });
    return sumReplies('suppression remove', replies);
  }

  async check(address: string): Promise<SuppressionEntry | null> {
    const key = address.trim().toLowerCase();
    const isDomain = key.startsWith('@');
    const reply = asArray(
      'suppression check',
      await this.#conn.script(
        checkSuppression,
        [this.#keys.suppressionAddresses(), this.#keys.suppressionDomains()],
        [isDomain ? '' : key, isDomain ? key : (domainKeyOf(key) ?? '')],
      ),
    );
    if (reply.length === 0) return null;
    const [found, value] = reply;
    if (typeof found !== 'string' || typeof value !== 'string') throw badReply('suppression check', reply);
    return decode(found, value);
  }

  async *list(): AsyncIterable<SuppressionEntry> {
    for (const hash of [this.#keys.suppressionAddresses(), this.#keys.suppressionDomains()]) {
      let cursor = '0';
      do {
        const reply = asArray(
          'suppression list',
          await this.#conn.run('suppression list', (redis) => redis.hscan(hash, cursor, 'COUNT', SCAN_COUNT)),
        );
        const [next, flat] = reply;
        if (typeof next !== 'string' || !Array.isArray(flat)) throw badReply('suppression list', reply);
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const field: unknown = flat[i];
          const value: unknown = flat[i + 1];
          if (typeof field !== 'string' || typeof value !== 'string') throw badReply('suppression list', reply);
          yield decode(field, value);
        }
        cursor = next;
      } while (cursor !== '0');
    }
  }

  async count(): Promise<number> {
    const replies = await this.#conn.run('suppression count', (redis) =>
      redis.multi().hlen(this.#keys.suppressionAddresses()).hlen(this.#keys.suppressionDomains()).exec(),
    );
    return sumReplies('suppression count', replies);
  }

  /** Splits items into the address hash and the domain hash. */
  #split<T>(items: readonly T[], keyOf: (item: T) => string): [string, T[]][] {
    const addresses: T[] = [];
    const domains: T[] = [];
    for (const item of items) (keyOf(item).startsWith('@') ? domains : addresses).push(item);
    const out: [string, T[]][] = [];
    if (addresses.length > 0) out.push([this.#keys.suppressionAddresses(), addresses]);
    if (domains.length > 0) out.push([this.#keys.suppressionDomains(), domains]);
    return out;
  }
}

/** Sums the integer replies of a MULTI; any per-command error fails the whole call. */
function sumReplies(what: string, replies: [Error | null, unknown][] | null): number {
  if (replies === null) throw badReply(what, replies);
  let total = 0;
  for (const [error, reply] of replies) {
    if (error !== null) throw badReply(what, error.message);
    total += asInteger(what, reply);
  }
  return total;
}
