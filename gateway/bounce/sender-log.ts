/**
 * [bounces] forward: the original envelope sender of each message that leaves with a
 * VERP return path, kept in the shared state (state/types.ts SenderStore) so that the
 * node a bounce reaches, whichever it is, knows whom the DSN of its own goes to — even
 * when the bounce returns no headers, or the header From is not the envelope sender.
 * The VERP local part cannot carry it: the token already takes 58 of RFC 5321
 * §4.5.3.1.1's 64 octets. What is read back is still checked against the token's sender
 * MAC (bounce-return.ts), so a store entry alone never sends a DSN.
 *
 * note() is synchronous and costs a map insert on the delivery path; entries go to the
 * store in batches (every FLUSH_MS, or at BATCH entries). A batch the store refuses
 * (Redis away) is kept for the next flush, up to MAX_PENDING entries.
 */
import type { Logger } from '../observe/logger.js';
import type { SenderEntry, SenderStore } from '../state/types.js';

/** How long after a message's last attempt its bounce may still come (the intake's duplicate window too). */
export const BOUNCE_WINDOW_MS = 7 * 86_400_000;
const FLUSH_MS = 250;
const BATCH = 500;
const MAX_PENDING = 50_000;
/** Queue ids written lately: a retry of the same message writes nothing more. */
const RECENT = 100_000;

export interface SenderLogDeps {
  readonly store: SenderStore;
  /** How long an entry is kept: the longest a message stays queued plus the bounce window (from the current config). */
  readonly ttlMs: () => number;
  readonly log: Logger;
}

export class SenderLog {
  readonly #pending = new Map<string, string>();
  readonly #recent = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #failing = false;

  constructor(private readonly deps: SenderLogDeps) {}

  /** Keeps `sender` as the original envelope sender of message `queueId` (the null sender is never kept). */
  note(queueId: string, sender: string): void {
    const id = queueId.toUpperCase();
    if (sender === '' || this.#recent.has(id) || this.#pending.has(id)) return;
    if (this.#pending.size >= MAX_PENDING) return;
    this.#pending.set(id, sender);
    if (this.#pending.size >= BATCH) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** The original envelope sender of `queueId`: not yet written ones first, then the store. */
  async lookup(queueId: string): Promise<string | null> {
    const id = queueId.toUpperCase();
    return this.#pending.get(id) ?? (await this.deps.store.get(id));
  }

  /** Writes what is pending; resolves when the store has it (or refused it: kept for later). */
  flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    while (this.#pending.size > 0) {
      const batch: SenderEntry[] = [];
      for (const [queueId, sender] of this.#pending) {
        batch.push({ queueId, sender });
        if (batch.length === BATCH) break;
      }
      try {
        await this.deps.store.record(batch, this.deps.ttlMs());
      } catch (err) {
        if (!this.#failing) this.deps.log.warn({ err, event: 'bounce_senders_unwritten', pending: this.#pending.size }, 'original senders not written to the shared state: kept for the next try');
        this.#failing = true;
        this.#timer ??= setTimeout(() => void this.flush(), 4 * FLUSH_MS).unref();
        return;
      }
      if (this.#failing) this.deps.log.info({ event: 'bounce_senders_written' }, 'original senders written to the shared state again');
      this.#failing = false;
      for (const e of batch) {
        // Only now: a note() between the read and the write must not be lost, nor written twice.
        this.#pending.delete(e.queueId);
        this.#recent.add(e.queueId);
      }
      while (this.#recent.size > RECENT) this.#recent.delete(this.#recent.values().next().value as string);
    }
  }
}
