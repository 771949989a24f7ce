import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../../errors.js';
import { writeFileAtomic } from '../../fs-util.js';
import type { Clock, SenderEntry, SenderStore } from '../types.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';

interface Kept {
  readonly sender: string;
  readonly until: number;
}

/**
 * Original envelope senders of a node that runs alone, in senders.log: one JSON line
 * `[until, queueId, sender]` appended per entry (batches come from bounce/sender-log.ts,
 * so an append is one write per batch), read back on open, rewritten without the lapsed
 * and replaced entries at open and whenever lines outnumber live entries twice over.
 * Bounces arrive days after the message left: the entries must survive a restart.
 */
export class EmbeddedSenders implements SenderStore {
  readonly #clock: Clock;
  readonly #path: string;
  readonly #kept = new Map<string, Kept>();
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;
  #lines = 0;

  constructor(dataDir: string, clock: Clock) {
    this.#clock = clock;
    this.#path = join(dataDir, 'senders.log');
    this.#lazy = new LazyOpen(dataDir, 'senders', async () => {
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
        if (entry) this.#kept.set(entry[1], { until: entry[0], sender: entry[2] });
      }
      await this.#compact();
    });
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async record(entries: readonly SenderEntry[], ttlMs: number): Promise<void> {
    if (entries.length === 0) return;
    await this.#lazy.ready();
    const until = this.#clock.now() + ttlMs;
    const text = entries.map((e) => `${JSON.stringify([until, e.queueId.toUpperCase(), e.sender])}\n`).join('');
    await this.#writes.run(async () => {
      try {
        await appendFile(this.#path, text);
      } catch (error) {
        throw new SluiceError('STATE_UNAVAILABLE', 'cannot write senders', { cause: error });
      }
      for (const e of entries) this.#kept.set(e.queueId.toUpperCase(), { sender: e.sender, until });
      this.#lines += entries.length;
      if (this.#lines > 2 * this.#kept.size + 1_000) await this.#compact();
    });
  }

  async get(queueId: string): Promise<string | null> {
    await this.#lazy.ready();
    const kept = this.#kept.get(queueId.toUpperCase());
    return kept !== undefined && kept.until > this.#clock.now() ? kept.sender : null;
  }

  async close(): Promise<void> {
    if (await this.#lazy.close()) await this.#writes.idle();
  }

  /** Drops lapsed entries and rewrites the file with one line per live one. */
  async #compact(): Promise<void> {
    const now = this.#clock.now();
    for (const [id, kept] of this.#kept) if (kept.until <= now) this.#kept.delete(id);
    const lines = [...this.#kept].map(([id, k]) => `${JSON.stringify([k.until, id, k.sender])}\n`);
    await writeFileAtomic(this.#path, lines.join(''));
    this.#lines = lines.length;
  }
}

function parseLine(line: string): [number, string, string] | null {
  if (line === '') return null;
  try {
    const v = JSON.parse(line) as unknown;
    if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'number' && typeof v[1] === 'string' && typeof v[2] === 'string') return [v[0], v[1], v[2]];
  } catch {
    // torn line
  }
  return null;
}
