import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../../errors.js';
import { writeFileAtomic } from '../../fs-util.js';
import type { Clock } from '../types.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';

/**
 * Keys with an expiry and an optional value, for a node that runs alone, kept in one
 * file of JSON lines: `[until, key]`, or `[until, key, value]`, appended per entry (one
 * write per call), read back on open, rewritten without the lapsed and replaced entries
 * at open and whenever lines outnumber live entries twice over. A crash mid-append leaves
 * a torn last line, which fails to parse and is dropped. Bounded: past `max` entries the
 * oldest set goes first. The stores on it (senders.log, claims.log) hold what a bounce
 * mailed back days later needs: it must survive a restart.
 */
export class ExpiringFile<V extends string | null> {
  readonly #clock: Clock;
  readonly #path: string;
  readonly #what: string;
  readonly #max: number;
  /** key -> [until, value], in the order set. */
  readonly #kept = new Map<string, readonly [number, V]>();
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;
  #lines = 0;

  constructor(dataDir: string, name: string, clock: Clock, max = Infinity) {
    this.#clock = clock;
    this.#path = join(dataDir, `${name}.log`);
    this.#what = name;
    this.#max = max;
    this.#lazy = new LazyOpen(dataDir, name, async () => {
      let text: string;
      try {
        text = await readFile(this.#path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const line of text.split('\n')) {
        const entry = parseLine(line);
        if (entry) this.#keep(entry[1], entry[0], entry[2] as V);
      }
      await this.#compact();
    });
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  ready(): Promise<void> {
    return this.#lazy.ready();
  }

  /** The entry of `key` while it lives (after ready()). */
  live(key: string): { readonly until: number; readonly value: V } | null {
    const kept = this.#kept.get(key);
    return kept !== undefined && kept[0] > this.#clock.now() ? { until: kept[0], value: kept[1] } : null;
  }

  /**
   * Sets the entries at once (a live() right after sees them), then writes them. When the
   * write fails they are taken back out (those not set again meanwhile) and it throws
   * STATE_UNAVAILABLE: what is not on disk was not kept.
   */
  async put(entries: readonly (readonly [string, V])[], until: number): Promise<void> {
    for (const [key, value] of entries) this.#keep(key, until, value);
    await this.#writes.run(async () => {
      try {
        await appendFile(this.#path, entries.map(([key, value]) => line(until, key, value)).join(''));
      } catch (error) {
        for (const [key] of entries) if (this.#kept.get(key)?.[0] === until) this.#kept.delete(key);
        throw new SluiceError('STATE_UNAVAILABLE', `cannot write ${this.#what}`, { cause: error });
      }
      this.#lines += entries.length;
      if (this.#lines > 2 * this.#kept.size + 1_000) await this.#compact();
    });
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#writes.idle();
  }

  #keep(key: string, until: number, value: V): void {
    // Re-inserted, so the Map's order stays the order set and the oldest go first.
    this.#kept.delete(key);
    this.#kept.set(key, [until, value]);
    while (this.#kept.size > this.#max) this.#kept.delete(this.#kept.keys().next().value as string);
  }

  /** Drops lapsed entries and rewrites the file with one line per live one. */
  async #compact(): Promise<void> {
    const now = this.#clock.now();
    for (const [key, [until]] of this.#kept) if (until <= now) this.#kept.delete(key);
    const lines = [...this.#kept].map(([key, [until, value]]) => line(until, key, value));
    await writeFileAtomic(this.#path, lines.join(''));
    this.#lines = lines.length;
  }
}

function line(until: number, key: string, value: string | null): string {
  return `${JSON.stringify(value === null ? [until, key] : [until, key, value])}\n`;
}

function parseLine(text: string): [number, string, string | null] | null {
  if (text === '') return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') {
      if (v.length === 2) return [v[0], v[1], null];
      if (v.length === 3 && typeof v[2] === 'string') return [v[0], v[1], v[2]];
    }
  } catch {
    // torn line
  }
  return null;
}
