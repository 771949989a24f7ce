import { SluiceError } from '../../errors.js';
import type { SuppressionEntry, SuppressionStore } from '../types.js';
import { LazyOpen } from './lazy-open.js';
import { SerialQueue } from './serial-queue.js';
import { SuppressionInbox, type InboxChange } from './suppression-inbox.js';
import { cleanSource, domainKeyOf, suppressionKey } from './suppression-key.js';
import { SuppressionLog } from './suppression-log.js';
import { SuppressionTable } from './suppression-table.js';

/** Compact once superseded records outnumber live ones, with slack for small lists. */
const COMPACT_SLACK = 10_000;
/** list() hands the event loop back after this many entries so a big list does not stall it. */
const PAGE = 1_000;
/** How often the owner applies what clients left in the inbox. */
const INBOX_INTERVAL_MS = 1_000;
/** The owner applies an inbox file in batches of at most this many changes (one fsync each). */
const INBOX_BATCH = 10_000;

/**
 * `owner`: the node serving the list; the only writer of `suppression.log`.
 * `client`: another process (the CLI) that reads the log and leaves its changes in the
 * inbox for the owner, so it never races the owner's appends or compactions.
 */
export type SuppressionMode = 'owner' | 'client';

export interface EmbeddedSuppressionOptions {
  /** Default `owner`. */
  readonly mode?: SuppressionMode;
  /** Client only: names this writer's inbox files (the CLI passes its pid); default random. */
  readonly writerId?: string;
}

/** Normalises an entry as both backends store it (lower-cased key, whole ms, one-line source). */
export function normaliseEntry(entry: SuppressionEntry): SuppressionEntry {
  if (!Number.isFinite(entry.at)) throw new SluiceError('USAGE', `bad suppression time ${entry.at}`);
  return {
    address: suppressionKey(entry.address),
    reason: entry.reason,
    source: cleanSource(entry.source),
    at: Math.max(0, Math.trunc(entry.at)),
  };
}

/**
 * The suppression list of a single node: a compact in-memory table for O(1) checks,
 * made durable by an append-only log in the data dir (fsync per add/remove batch).
 * The table changes only after its batch is on disk, so a check never reports an
 * entry that a crash could lose.
 *
 * One process owns the log (the node). A client (the CLI, while the node runs or
 * before it first starts) reads a snapshot of the log plus the pending inbox, and
 * writes its changes to the inbox; the owner applies the inbox at open and then every
 * second, through its own durable add/remove, and deletes each file once applied.
 */
export class EmbeddedSuppression implements SuppressionStore {
  readonly #table = new SuppressionTable();
  readonly #log: SuppressionLog;
  readonly #inbox: SuppressionInbox;
  readonly #mode: SuppressionMode;
  readonly #writes = new SerialQueue();
  readonly #lazy: LazyOpen;
  /** Owner: inbox runs, one at a time; a tick that finds one running skips. */
  readonly #inboxRuns = new SerialQueue();
  #inboxBusy = false;
  #timer: NodeJS.Timeout | null = null;
  #closing = false;
  /** Owner: files applied but not deletable (permissions): not applied again this run. */
  readonly #stuck = new Set<string>();

  constructor(dataDir: string, options: EmbeddedSuppressionOptions = {}) {
    this.#mode = options.mode ?? 'owner';
    this.#log = new SuppressionLog(dataDir);
    this.#inbox = new SuppressionInbox(dataDir, options.writerId);
    const load = this.#mode === 'owner' ? () => this.#openOwner() : () => this.#openClient();
    this.#lazy = new LazyOpen(dataDir, 'the suppression list', load);
  }

  open(): Promise<void> {
    return this.#lazy.ready();
  }

  async add(entries: readonly SuppressionEntry[]): Promise<number> {
    const normalised = entries.map(normaliseEntry);
    await this.#lazy.ready();
    return this.#durably(() => this.#addNow(normalised));
  }

  async remove(addresses: readonly string[]): Promise<number> {
    const keys = addresses.map(suppressionKey);
    await this.#lazy.ready();
    return this.#durably(() => this.#removeNow(keys));
  }

  async check(address: string): Promise<SuppressionEntry | null> {
    await this.#lazy.ready();
    const key = address.trim().toLowerCase();
    const exact = this.#table.get(key);
    if (exact !== null) return exact;
    const domain = domainKeyOf(key);
    return domain === null ? null : this.#table.get(domain);
  }

  async *list(): AsyncIterable<SuppressionEntry> {
    await this.#lazy.ready();
    let inPage = 0;
    for (const entry of this.#table.entries()) {
      yield entry;
      if (++inPage === PAGE) {
        inPage = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  async count(): Promise<number> {
    await this.#lazy.ready();
    return this.#table.size;
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (!(await this.#lazy.close())) return;
    await this.#inboxRuns.idle();
    await this.#writes.idle();
    await this.#log.close();
  }

  async #openOwner(): Promise<void> {
    await this.#log.load(this.#table);
    // Changes the CLI made while no node ran. A failure here must not stop the node
    // from starting: the files stay and the timer tries again.
    await this.#inboxRuns.run(() => this.#applyInbox()).catch(() => undefined);
    if (this.#closing) return;
    this.#timer = setInterval(() => this.#tick(), INBOX_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * A client's view: the log, then the pending inbox over it. The files are read
   * before the log: one the owner deletes meanwhile was appended to the log before
   * its deletion, so its changes are in the log read after.
   */
  async #openClient(): Promise<void> {
    const pending = await this.#inbox.readPending();
    await this.#log.snapshot(this.#table);
    for (const file of pending) this.#overlay(file.changes);
  }

  #overlay(changes: readonly InboxChange[]): void {
    for (const change of changes) {
      if (change.kind === 'add') this.#table.set(change.entry.address, change.entry);
      else this.#table.delete(change.key);
    }
  }

  async #addNow(entries: readonly SuppressionEntry[]): Promise<number> {
    const fresh = new Set<string>();
    let text = '';
    for (const entry of entries) {
      if (!this.#table.has(entry.address)) fresh.add(entry.address);
      text += SuppressionLog.formatAdd(entry.address, entry);
    }
    if (entries.length > 0) await this.#persist(text, entries.length);
    for (const entry of entries) this.#table.set(entry.address, entry);
    return fresh.size;
  }

  async #removeNow(keys: readonly string[]): Promise<number> {
    const present = new Set(keys.filter((key) => this.#table.has(key)));
    // A client writes every key: its snapshot may lack an entry the owner has since added.
    const written = this.#mode === 'client' ? new Set(keys) : present;
    if (written.size === 0) return 0;
    let text = '';
    for (const key of written) text += SuppressionLog.formatRemove(key);
    await this.#persist(text, written.size);
    for (const key of present) this.#table.delete(key);
    return present.size;
  }

  /** The owner appends to its log; a client leaves the batch in the inbox. */
  #persist(text: string, records: number): Promise<void> {
    return this.#mode === 'owner' ? this.#log.append(text, records) : this.#inbox.write(text);
  }

  #tick(): void {
    if (this.#inboxBusy || this.#closing) return;
    this.#inboxBusy = true;
    // A failed run leaves its file in the inbox; the next tick tries it again.
    void this.#inboxRuns
      .run(() => this.#applyInbox())
      .catch(() => undefined)
      .finally(() => {
        this.#inboxBusy = false;
      });
  }

  /**
   * Applies every pending inbox file, oldest first, through the durable add/remove,
   * then deletes it. Stops at the first failure so files keep their order. Crashing
   * between the append and the delete applies the file again at the next open, which
   * changes nothing: applying the same adds and removes twice in a row is harmless.
   */
  async #applyInbox(): Promise<void> {
    let discarded = false;
    for (const name of await this.#inbox.pending()) {
      if (this.#closing) break;
      if (this.#stuck.has(name)) {
        if (await this.#discard(name)) discarded = true;
        continue;
      }
      const file = await this.#inbox.read(name);
      if (file === null) continue;
      if (!(await this.#applyChanges(file.changes))) break;
      if (await this.#discard(name)) discarded = true;
    }
    if (discarded) await this.#inbox.sync();
  }

  /** Applies one file's changes in runs of one kind; false when closing cut it short. */
  async #applyChanges(changes: readonly InboxChange[]): Promise<boolean> {
    let i = 0;
    while (i < changes.length) {
      if (this.#closing) return false;
      const kind = changes[i]?.kind;
      const adds: SuppressionEntry[] = [];
      const removes: string[] = [];
      for (; i < changes.length && adds.length + removes.length < INBOX_BATCH; i++) {
        const change = changes[i];
        if (change === undefined || change.kind !== kind) break;
        if (change.kind === 'add') adds.push(change.entry);
        else removes.push(change.key);
      }
      if (adds.length > 0) await this.#durably(() => this.#addNow(adds));
      if (removes.length > 0) await this.#durably(() => this.#removeNow(removes));
    }
    return true;
  }

  /** Deletes an applied file; true when deleted. One that cannot be is remembered, not re-applied. */
  async #discard(name: string): Promise<boolean> {
    try {
      await this.#inbox.discard(name);
      this.#stuck.delete(name);
      return true;
    } catch {
      this.#stuck.add(name);
      return false;
    }
  }

  /** Serialises a write, compacts when due, and reports disk failures as state failures. */
  #durably<T>(job: () => Promise<T>): Promise<T> {
    return this.#writes.run(async () => {
      let result: T;
      try {
        result = await job();
      } catch (error) {
        if (error instanceof SluiceError) throw error;
        throw new SluiceError('STATE_UNAVAILABLE', 'cannot write the suppression list', { cause: error });
      }
      if (this.#mode === 'owner' && this.#log.records > 2 * this.#table.size + COMPACT_SLACK) {
        // The batch is already durable; a failed compaction only leaves a longer log,
        // and the next batch tries again.
        await this.#log.compact(this.#table).catch(() => undefined);
      }
      return result;
    });
  }
}
