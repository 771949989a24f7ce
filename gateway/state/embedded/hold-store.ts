import { join } from 'node:path';
import { z } from 'zod';
import { SluiceError } from '../../errors.js';
import type { Clock, Hold, HoldStore } from '../types.js';
import { writeFileAtomic, readJsonFile } from '../../fs-util.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';

export const holdSchema = z.object({
  scope: z.string(),
  reason: z.string(),
  until: z.number().nullable(),
  by: z.string(),
});
const fileSchema = z.object({ version: z.literal(1), holds: z.array(holdSchema) });

export function holdInForce(hold: Hold, now: number): boolean {
  return hold.until === null || hold.until > now;
}

/**
 * Holds, in holds.json. An operator's hold must outlive a restart,
 * and holds change rarely, so every change is written (atomically) before it returns.
 */
export class EmbeddedHolds implements HoldStore {
  readonly #clock: Clock;
  readonly #path: string;
  #holds = new Map<string, Hold>();
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;

  constructor(dataDir: string, clock: Clock) {
    this.#clock = clock;
    this.#path = join(dataDir, 'holds.json');
    this.#lazy = new LazyOpen(dataDir, 'holds', async () => {
      const raw = await readJsonFile(this.#path);
      if (raw === undefined) return;
      for (const hold of fileSchema.parse(raw).holds) this.#holds.set(hold.scope, hold);
    });
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async set(hold: Hold): Promise<void> {
    await this.#lazy.ready();
    const copy = holdSchema.parse(hold);
    await this.#save((holds) => holds.set(copy.scope, copy));
  }

  async lift(scope: string): Promise<boolean> {
    await this.#lazy.ready();
    const hold = this.#holds.get(scope);
    if (hold === undefined) return false;
    await this.#save((holds) => holds.delete(scope));
    return holdInForce(hold, this.#clock.now());
  }

  async all(): Promise<readonly Hold[]> {
    await this.#lazy.ready();
    const now = this.#clock.now();
    return [...this.#holds.values()].filter((hold) => holdInForce(hold, now));
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#writes.idle();
  }

  /** Writes the changed set, then adopts it: a failed write changes nothing. */
  #save(change: (holds: Map<string, Hold>) => void): Promise<void> {
    return this.#writes.run(async () => {
      const next = new Map(this.#holds);
      change(next);
      const now = this.#clock.now();
      for (const [scope, hold] of next) if (!holdInForce(hold, now)) next.delete(scope);
      const text = JSON.stringify({ version: 1, holds: [...next.values()] });
      try {
        await writeFileAtomic(this.#path, text);
      } catch (error) {
        throw new SluiceError('STATE_UNAVAILABLE', 'cannot write holds', { cause: error });
      }
      this.#holds = next;
    });
  }
}
