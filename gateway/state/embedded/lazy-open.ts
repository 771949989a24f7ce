import { mkdir } from 'node:fs/promises';
import { SluiceError } from '../../errors.js';

/**
 * Loads a store's file once, on first use or on an explicit open(): constructors do
 * no I/O, and a failed load is reported as STATE_UNAVAILABLE on every call.
 */
export class LazyOpen {
  readonly #dataDir: string;
  readonly #what: string;
  readonly #load: () => Promise<void>;
  #opening: Promise<void> | null = null;
  #closed = false;

  constructor(dataDir: string, what: string, load: () => Promise<void>) {
    this.#dataDir = dataDir;
    this.#what = what;
    this.#load = load;
  }

  get started(): boolean {
    return this.#opening !== null;
  }

  open(): Promise<void> {
    this.#opening ??= mkdir(this.#dataDir, { recursive: true }).then(this.#load);
    return this.#opening;
  }

  async ready(): Promise<void> {
    if (this.#closed) throw new SluiceError('STATE_UNAVAILABLE', `${this.#what} is closed`);
    try {
      await this.open();
    } catch (error) {
      throw new SluiceError('STATE_UNAVAILABLE', `cannot load ${this.#what}`, { cause: error });
    }
  }

  /** Marks closed; true when it had been opened (so there is something to flush). */
  async close(): Promise<boolean> {
    if (this.#closed) return false;
    this.#closed = true;
    if (this.#opening === null) return false;
    try {
      await this.#opening;
      return true;
    } catch {
      return false;
    }
  }
}
