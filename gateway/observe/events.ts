/**
 * The event log (`[events] file`): one JSON line per event, appended in batches by a
 * background writer so the caller never waits on the disk. Lines wait in a bounded
 * buffer; when the disk cannot keep up (or fails) new lines are dropped and counted
 * rather than growing memory or slowing delivery. The file rotates by size:
 * file → file.1 → … → file.<keep>, the oldest falling off.
 */
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from './logger.js';
import type { EventRecord, EventSink } from './event-types.js';

export interface EventLogOptions {
  readonly file: string;
  /** Rotate before the file would grow past this many bytes (config "100MB", parsed). */
  readonly max_size: number;
  /** Rotated files kept (file.1 … file.<keep>); 0 keeps none. */
  readonly keep: number;
  /** Bytes of lines allowed to wait for the disk before new ones are dropped (default 8 MiB). */
  readonly max_buffer?: number;
}

export interface EventLogDeps {
  readonly log?: Logger;
  readonly metrics?: { eventLogDropped(count: number): void };
}

export class EventLog implements EventSink {
  readonly #file: string;
  readonly #maxSize: number;
  readonly #keep: number;
  readonly #maxBuffer: number;
  readonly #deps: EventLogDeps;
  #pending: string[] = [];
  #pendingBytes = 0;
  #writing: Promise<void> | null = null;
  #handle: FileHandle | null = null;
  #size = 0;
  #closed = false;
  #dropped = 0;

  constructor(options: EventLogOptions, deps: EventLogDeps = {}) {
    this.#file = options.file;
    this.#maxSize = Math.max(1024, options.max_size);
    this.#keep = Math.max(0, Math.floor(options.keep));
    this.#maxBuffer = options.max_buffer ?? 8 * 1024 * 1024;
    this.#deps = deps;
  }

  /** Lines dropped so far (also counted in sluice_event_log_dropped_total). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one line; O(1), never throws, never waits. */
  publish(record: EventRecord): void {
    if (this.#closed) return;
    const line = JSON.stringify(record) + '\n';
    const bytes = Buffer.byteLength(line);
    if (this.#pendingBytes + bytes > this.#maxBuffer) {
      this.#drop(1);
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += bytes;
    this.#writing ??= this.#drain();
  }

  /** Resolves once every line published before the call is on disk (or dropped). */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  /** Reopens the file, for an outside rotator (logrotate's `postrotate`). */
  async reopen(): Promise<void> {
    await this.flush();
    await this.#closeHandle();
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    await this.#closeHandle();
  }

  async #drain(): Promise<void> {
    // Let the current burst of publishes land first: one write per turn of the loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        try {
          await this.#write(batch);
        } catch (err) {
          this.#deps.log?.error({ err, file: this.#file, lines: batch.length }, 'event log write failed');
          this.#drop(batch.length);
          await this.#closeHandle().catch(() => undefined);
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  async #write(lines: string[]): Promise<void> {
    let chunk: string[] = [];
    let chunkBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      const handle = await this.#open();
      if (this.#size + chunkBytes + bytes > this.#maxSize && this.#size + chunkBytes > 0) {
        if (chunk.length > 0) await this.#append(handle, chunk, chunkBytes);
        chunk = [];
        chunkBytes = 0;
        await this.#rotate();
      }
      chunk.push(line);
      chunkBytes += bytes;
    }
    if (chunk.length > 0) await this.#append(await this.#open(), chunk, chunkBytes);
  }

  async #append(handle: FileHandle, chunk: string[], bytes: number): Promise<void> {
    await handle.appendFile(chunk.join(''));
    this.#size += bytes;
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle !== null) return this.#handle;
    await mkdir(dirname(this.#file), { recursive: true });
    const handle = await open(this.#file, 'a', 0o640);
    this.#size = (await handle.stat()).size;
    this.#handle = handle;
    return handle;
  }

  async #rotate(): Promise<void> {
    await this.#closeHandle();
    if (this.#keep === 0) {
      await unlink(this.#file).catch(ignoreMissing);
    } else {
      for (let i = this.#keep - 1; i >= 1; i--) {
        await rename(`${this.#file}.${i}`, `${this.#file}.${i + 1}`).catch(ignoreMissing);
      }
      await rename(this.#file, `${this.#file}.1`).catch(ignoreMissing);
    }
    this.#size = 0;
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle !== null) await handle.close();
  }

  #drop(count: number): void {
    this.#dropped += count;
    this.#deps.metrics?.eventLogDropped(count);
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
