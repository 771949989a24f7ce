import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SuppressionEntry } from '../types.js';
import { syncDir } from '../../fs-util.js';
import { cleanSource, suppressionKey } from './suppression-key.js';
import { replayRecords, type RecordSink } from './suppression-log.js';

/** One change a client left for the owner, already validated and normalised. */
export type InboxChange =
  | { readonly kind: 'add'; readonly entry: SuppressionEntry }
  | { readonly kind: 'remove'; readonly key: string };

/** A pending inbox file: its name (which orders it) and its changes in file order. */
export interface InboxFile {
  readonly name: string;
  readonly changes: readonly InboxChange[];
}

const NAME = /^\d{15}-[0-9a-z]+-\d{6}\.log$/;

/**
 * `<dataDir>/suppression.inbox/`: changes from clients (the CLI, another process) that
 * only the owner may write into `suppression.log`. Each client batch is one file, in
 * the log's record format, written to a hidden temp name, fsynced, then renamed to
 * `<time>-<writer>-<seq>.log`: a reader sees a whole file or none. Names sort in the
 * order they were written (per writer; across writers, by wall-clock time).
 */
export class SuppressionInbox {
  readonly #dir: string;
  readonly #writer: string;
  #seq = 0;
  #lastTime = 0;

  /** `writer` tells concurrent clients' files apart (the CLI passes its pid). */
  constructor(dataDir: string, writer: string = randomBytes(4).toString('hex')) {
    this.#dir = join(dataDir, 'suppression.inbox');
    this.#writer = writer.toLowerCase().replace(/[^0-9a-z]/g, '') || 'w';
  }

  /** Client side: leaves `text` (log records) for the owner; durable when this resolves. */
  async write(text: string): Promise<void> {
    if ((await mkdir(this.#dir, { recursive: true })) !== undefined) await syncDir(dirname(this.#dir));
    const name = this.#nextName();
    const temp = join(this.#dir, `.${name}.tmp`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, join(this.#dir, name));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    await syncDir(this.#dir);
  }

  /** Names of the pending files, oldest first. Temp files of unfinished writes are not listed. */
  async pending(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.filter((name) => NAME.test(name)).sort();
  }

  /** The changes in one pending file; null when it is gone (the owner applied it). */
  async read(name: string): Promise<InboxFile | null> {
    let buffer: Buffer;
    try {
      buffer = await readFile(join(this.#dir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const collector = new ChangeCollector();
    replayRecords(buffer, collector);
    return { name, changes: collector.changes };
  }

  /** Every pending file that is still there, oldest first. */
  async readPending(): Promise<InboxFile[]> {
    const files: InboxFile[] = [];
    for (const name of await this.pending()) {
      const file = await this.read(name);
      if (file !== null) files.push(file);
    }
    return files;
  }

  /** Owner side: deletes an applied file (call sync() once after a run of these). */
  async discard(name: string): Promise<void> {
    try {
      await unlink(join(this.#dir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Makes discards durable, so a crash does not bring applied files back. */
  async sync(): Promise<void> {
    await syncDir(this.#dir);
  }

  #nextName(): string {
    // Never backwards within one writer, even if the wall clock is stepped back.
    this.#lastTime = Math.max(this.#lastTime, Date.now());
    this.#seq = (this.#seq + 1) % 1_000_000;
    return `${String(this.#lastTime).padStart(15, '0')}-${this.#writer}-${String(this.#seq).padStart(6, '0')}.log`;
  }
}

/**
 * Collects an inbox file's records as changes. The file comes from another process, so
 * a record whose key the store would refuse is skipped like a malformed line: one bad
 * line must not hold back the rest of the file, nor every file after it.
 */
class ChangeCollector implements RecordSink {
  readonly changes: InboxChange[] = [];

  set(key: string, entry: SuppressionEntry): void {
    const address = validKey(key);
    if (address !== null) this.changes.push({ kind: 'add', entry: { ...entry, address, source: cleanSource(entry.source) } });
  }

  delete(key: string): void {
    const valid = validKey(key);
    if (valid !== null) this.changes.push({ kind: 'remove', key: valid });
  }
}

function validKey(key: string): string | null {
  try {
    return suppressionKey(key);
  } catch {
    return null;
  }
}
