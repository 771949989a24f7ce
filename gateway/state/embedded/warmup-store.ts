import { join } from 'node:path';
import { z } from 'zod';
import type { Clock, WarmupStore } from '../types.js';
import { checkDay, utcDay } from './checks.js';
import { DebouncedFile } from './debounced-file.js';
import { readJsonFile } from '../../fs-util.js';
import { LazyOpen } from './lazy-open.js';

/** Days kept: today and a little before, for a clock near midnight or a late giveBack. */
const KEEP_MS = 3 * 86_400_000;

const fileSchema = z.object({
  version: z.literal(1),
  used: z.record(z.string(), z.record(z.string(), z.number().int().nonnegative())),
});

/**
 * Messages sent per (source, UTC day) against the warm-up schedule, in warmup.json.
 * Saves are debounced: a crash forgets at most a second of counts, which the
 * schedule's daily steps absorb; close() writes the rest.
 */
export class EmbeddedWarmup implements WarmupStore {
  readonly #clock: Clock;
  readonly #used = new Map<string, Map<string, number>>();
  readonly #file: DebouncedFile;
  readonly #lazy: LazyOpen;

  constructor(dataDir: string, clock: Clock, debounceMs = 1_000) {
    const path = join(dataDir, 'warmup.json');
    this.#clock = clock;
    this.#file = new DebouncedFile(path, () => this.#snapshot(), debounceMs);
    this.#lazy = new LazyOpen(dataDir, 'warm-up counts', () => this.#load(path));
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async take(source: string, day: string, cap: number): Promise<boolean> {
    checkDay(day);
    await this.#lazy.ready();
    const used = this.#get(source, day);
    if (used >= cap) return false;
    this.#set(source, day, used + 1);
    return true;
  }

  async giveBack(source: string, day: string): Promise<void> {
    checkDay(day);
    await this.#lazy.ready();
    const used = this.#get(source, day);
    if (used > 0) this.#set(source, day, used - 1);
  }

  async used(source: string, day: string): Promise<number> {
    checkDay(day);
    await this.#lazy.ready();
    return this.#get(source, day);
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#file.flush();
  }

  #get(source: string, day: string): number {
    return this.#used.get(source)?.get(day) ?? 0;
  }

  #set(source: string, day: string, used: number): void {
    let days = this.#used.get(source);
    if (days === undefined) {
      days = new Map();
      this.#used.set(source, days);
    }
    days.set(day, used);
    this.#file.schedule();
  }

  async #load(path: string): Promise<void> {
    const raw = await readJsonFile(path);
    if (raw === undefined) return;
    const parsed = fileSchema.parse(raw);
    for (const [source, days] of Object.entries(parsed.used)) {
      this.#used.set(source, new Map(Object.entries(days)));
    }
  }

  /** The file's content; drops old days first so the file and the map stay small. */
  #snapshot(): z.infer<typeof fileSchema> {
    const oldest = utcDay(this.#clock.now() - KEEP_MS);
    const used: Record<string, Record<string, number>> = {};
    for (const [source, days] of this.#used) {
      for (const day of days.keys()) if (day < oldest) days.delete(day);
      if (days.size === 0) this.#used.delete(source);
      else used[source] = Object.fromEntries(days);
    }
    return { version: 1, used };
  }
}
