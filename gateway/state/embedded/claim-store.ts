import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../../errors.js';
import { writeFileAtomic } from '../../fs-util.js';
import type { ClaimStore, Clock } from '../types.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';

/** Claims kept at most; past it the oldest go first (a bounce counted twice, never one lost). */
export const MAX_CLAIMS = 200_000;

/**
 * Claim once for a node that runs alone, in claims.log: one JSON line `[until, key]`
 * appended per claim, read back on open, rewritten without the lapsed ones at open and
 * whenever lines outnumber live claims twice over (the file pattern of sender-store.ts).
 * A restart must keep them: a bounce mailed again after one still counts once.
 * Bounded: past `max` claims the oldest is forgotten.
 */
export class EmbeddedClaims implements ClaimStore {
  readonly #clock: Clock;
  readonly #path: string;
  readonly #max: number;
  /** key -> until, in the order claimed. */
  readonly #kept = new Map<string, number>();
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;
  #lines = 0;

  constructor(dataDir: string, clock: Clock, max = MAX_CLAIMS) {
    this.#clock = clock;
    this.#path = join(dataDir, 'claims.log');
    this.#max = max;
    this.#lazy = new LazyOpen(dataDir, 'claims', async () => {
      let text: string;
      try {
        text = await readFile(this.#path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      // A crash mid-append leaves a torn last line: it fails to parse and is dropped.
      for (const line of text.split('\n')) {
        const entry = parseLine(line);
        if (entry) this.#keep(entry[1], entry[0]);
      }
      await this.#compact();
    });
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    await this.#lazy.ready();
    // Decided with no await between the check and the set: two claims in flight cannot both win.
    const now = this.#clock.now();
    const until = this.#kept.get(key);
    if (until !== undefined && until > now) return false;
    const next = now + Math.max(1, Math.round(ttlMs));
    this.#keep(key, next);
    await this.#writes.run(async () => {
      try {
        await appendFile(this.#path, `${JSON.stringify([next, key])}\n`);
      } catch (error) {
        // Not on disk: not claimed (a caller that falls back counts it once itself).
        if (this.#kept.get(key) === next) this.#kept.delete(key);
        throw new SluiceError('STATE_UNAVAILABLE', 'cannot write claims', { cause: error });
      }
      this.#lines += 1;
      if (this.#lines > 2 * this.#kept.size + 1_000) await this.#compact();
    });
    return true;
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#writes.idle();
  }

  #keep(key: string, until: number): void {
    // Re-inserted, so the Map's order stays the order claimed and the oldest go first.
    this.#kept.delete(key);
    this.#kept.set(key, until);
    while (this.#kept.size > this.#max) this.#kept.delete(this.#kept.keys().next().value as string);
  }

  /** Drops lapsed claims and rewrites the file with one line per live one. */
  async #compact(): Promise<void> {
    const now = this.#clock.now();
    for (const [key, until] of this.#kept) if (until <= now) this.#kept.delete(key);
    const lines = [...this.#kept].map(([key, until]) => `${JSON.stringify([until, key])}\n`);
    await writeFileAtomic(this.#path, lines.join(''));
    this.#lines = lines.length;
  }
}

function parseLine(line: string): [number, string] | null {
  if (line === '') return null;
  try {
    const v = JSON.parse(line) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // torn line
  }
  return null;
}
