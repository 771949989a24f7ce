import { SluiceError } from '../../errors.js';
import type { SuppressionEntry, SuppressionStore } from '../types.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';
import { cleanSource, domainKeyOf, suppressionKey } from './suppression-key.js';
import { SuppressionLog } from './suppression-log.js';
import { SuppressionTable } from './suppression-table.js';

/** Compact once superseded records outnumber live ones, with slack for small lists. */
const COMPACT_SLACK = 10_000;
/** list() hands the event loop back after this many entries so a big list does not stall it. */
const PAGE = 1_000;

/** Normalises an entry as both backends store it (lower-cased key, whole ms, one-line source). */
export function normaliseEntry(entry: SuppressionEntry): SuppressionEntry {
  if (!Number.isFinite(entry.at)) throw new SluiceError('USAGE', `bad suppression time ${entry.at}`);
  return {
    address: suppressionKey(entry.address),
    reason: entry.reason,
    source: cleanSource(entry.source),
    at: Math.max(0, Math.trunc(entry.at)),
  };
}

/**
 * The suppression list of a single node: a compact in-memory table for O(1) checks,
 * made durable by an append-only log in the data dir (fsync per add/remove batch).
 * The table changes only after its batch is on disk, so a check never reports an
 * entry that a crash could lose.
 */
export class EmbeddedSuppression implements SuppressionStore {
  readonly #table = new SuppressionTable();
  readonly #log: SuppressionLog;
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;

  constructor(dataDir: string) {
    this.#log = new SuppressionLog(dataDir);
    this.#lazy = new LazyOpen(dataDir, 'the suppression list', () => this.#log.load(this.#table));
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async add(entries: readonly SuppressionEntry[]): Promise<number> {
    const normalised = entries.map(normaliseEntry);
    await this.#lazy.ready();
    return this.#durably(async () => {
      const fresh = new Set<string>();
      let text = '';
      for (const entry of normalised) {
        if (!this.#table.has(entry.address)) fresh.add(entry.address);
        text += SuppressionLog.formatAdd(entry.address, entry);
      }
      if (normalised.length > 0) await this.#log.append(text, normalised.length);
      for (const entry of normalised) this.#table.set(entry.address, entry);
      return fresh.size;
    });
  }

  async remove(addresses: readonly string[]): Promise<number> {
    const keys = addresses.map(suppressionKey);
    await this.#lazy.ready();
    return this.#durably(async () => {
      const present = new Set(keys.filter((key) => this.#table.has(key)));
      if (present.size === 0) return 0;
      let text = '';
      for (const key of present) text += SuppressionLog.formatRemove(key);
      await this.#log.append(text, present.size);
      for (const key of present) this.#table.delete(key);
      return present.size;
    });
  }

  async check(address: string): Promise<SuppressionEntry | null> {
    await this.#lazy.ready();
    const key = address.trim().toLowerCase();
    const exact = this.#table.get(key);
    if (exact !== null) return exact;
    const domain = domainKeyOf(key);
    return domain === null ? null : this.#table.get(domain);
  }

  async *list(): AsyncIterable<SuppressionEntry> {
    await this.#lazy.ready();
    let inPage = 0;
    for (const entry of this.#table.entries()) {
      yield entry;
      if (++inPage === PAGE) {
        inPage = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  async count(): Promise<number> {
    await this.#lazy.ready();
    return this.#table.size;
  }

  async close(): Promise<void> {
    if (!(await this.#lazy.close())) return;
    await this.#writes.idle();
    await this.#log.close();
  }

  /** Serialises a log write, compacts when due, and reports disk failures as state failures. */
  #durably<T>(job: () => Promise<T>): Promise<T> {
    return this.#writes.run(async () => {
      let result: T;
      try {
        result = await job();
      } catch (error) {
        if (error instanceof SluiceError) throw error;
        throw new SluiceError('STATE_UNAVAILABLE', 'cannot write the suppression log', { cause: error });
      }
      if (this.#log.records > 2 * this.#table.size + COMPACT_SLACK) {
        // The batch is already durable; a failed compaction only leaves a longer log,
        // and the next batch tries again.
        await this.#log.compact(this.#table).catch(() => undefined);
      }
      return result;
    });
  }
}
