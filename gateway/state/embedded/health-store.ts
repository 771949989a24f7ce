import { join } from 'node:path';
import { z } from 'zod';
import type { Clock, HealthCounts, HealthOutcome, HealthStore } from '../types.js';
import { DebouncedFile } from './debounced-file.js';
import { readJsonFile } from '../../fs-util.js';
import { HealthWindows } from './health-windows.js';
import { LazyOpen } from './lazy-open.js';

const bucketSchema = z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]);
const fileSchema = z.object({
  version: z.literal(1),
  series: z.record(z.string(), z.array(bucketSchema)),
});

/** One series per (source, provider); a newline cannot occur in either name. */
export function seriesName(source: string, provider: string): string {
  return `${source}\n${provider}`;
}

/**
 * Health windows of a single node, saved to health.json (debounced) so a restart does
 * not forget that a source was collecting bounces a minute ago.
 */
export class EmbeddedHealth implements HealthStore {
  readonly #clock: Clock;
  readonly #windows = new HealthWindows();
  readonly #file: DebouncedFile;
  readonly #lazy: LazyOpen;

  constructor(dataDir: string, clock: Clock, debounceMs = 5_000) {
    const path = join(dataDir, 'health.json');
    this.#clock = clock;
    this.#file = new DebouncedFile(
      path,
      () => ({ version: 1, series: this.#windows.snapshot(this.#clock.now()) }),
      debounceMs,
    );
    this.#lazy = new LazyOpen(dataDir, 'health windows', async () => {
      const raw = await readJsonFile(path);
      if (raw !== undefined) this.#windows.restore(fileSchema.parse(raw).series);
    });
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async record(source: string, provider: string, outcome: HealthOutcome): Promise<void> {
    await this.#lazy.ready();
    this.#windows.record(seriesName(source, provider), outcome, this.#clock.now());
    this.#file.schedule();
  }

  async counts(source: string, provider: string, windowMs: number): Promise<HealthCounts> {
    await this.#lazy.ready();
    return this.#windows.counts(seriesName(source, provider), windowMs, this.#clock.now());
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#file.flush();
  }
}
