import { writeFileAtomic } from '../../fs-util.js';

/**
 * A small JSON file rewritten atomically at most once per `delayMs` (warm-up counters,
 * health windows change many times a second; a crash loses at most `delayMs` of them).
 * Writes are chained so two never race on the same temp file.
 */
export class DebouncedFile {
  readonly #path: string;
  readonly #snapshot: () => unknown;
  readonly #delayMs: number;
  #timer: NodeJS.Timeout | null = null;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();
  #lastError: unknown = null;

  constructor(path: string, snapshot: () => unknown, delayMs: number) {
    this.#path = path;
    this.#snapshot = snapshot;
    this.#delayMs = delayMs;
  }

  /** The last background write failure, for the owner to surface; null when fine. */
  get lastError(): unknown {
    return this.#lastError;
  }

  schedule(): void {
    this.#dirty = true;
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush().catch(() => undefined);
    }, this.#delayMs);
    // A pending save must not keep the process alive; close() flushes it.
    this.#timer.unref();
  }

  /** Writes now if anything changed; resolves when it is on disk. */
  async flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const run = async (): Promise<void> => {
      if (!this.#dirty) return;
      this.#dirty = false;
      try {
        await writeFileAtomic(this.#path, JSON.stringify(this.#snapshot()));
        this.#lastError = null;
      } catch (error) {
        this.#dirty = true;
        this.#lastError = error;
        throw error;
      }
    };
    const next = this.#writing.then(run, run);
    this.#writing = next.catch(() => undefined);
    return next;
  }
}
