import type { Clock, SenderEntry, SenderStore } from '../types.js';
import { ExpiringFile } from './expiring-file.js';

/**
 * Original envelope senders of a node that runs alone, in senders.log, one line
 * `[until, queueId, sender]` per entry (batches come from bounce/sender-log.ts, so an
 * append is one write per batch): expiring-file.ts.
 */
export class EmbeddedSenders implements SenderStore {
  readonly #file: ExpiringFile<string>;
  readonly #clock: Clock;

  constructor(dataDir: string, clock: Clock) {
    this.#clock = clock;
    this.#file = new ExpiringFile<string>(dataDir, 'senders', clock);
  }

  open(): Promise<void> {
    return this.#file.open();
  }

  async record(entries: readonly SenderEntry[], ttlMs: number): Promise<void> {
    if (entries.length === 0) return;
    await this.#file.ready();
    await this.#file.put(entries.map((e) => [e.queueId.toUpperCase(), e.sender] as const), this.#clock.now() + ttlMs);
  }

  async get(queueId: string): Promise<string | null> {
    await this.#file.ready();
    return this.#file.live(queueId.toUpperCase())?.value ?? null;
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}
