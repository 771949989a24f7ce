import { open, readFile, rename, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SuppressionEntry } from '../types.js';
import { syncDir } from '../../fs-util.js';
import { SUPPRESSION_REASONS, reasonAt, reasonIndex } from './suppression-key.js';
import type { SuppressionTable } from './suppression-table.js';

/** Where replayed records go: the live table, or a list of changes to apply later. */
export interface RecordSink {
  set(key: string, entry: SuppressionEntry): unknown;
  delete(key: string): unknown;
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const PLUS = 0x2b;
const MINUS = 0x2d;
/** Compaction writes in chunks of about this many characters: bounded extra memory. */
const CHUNK_CHARS = 1 << 20;

/**
 * The suppression list on disk: an append-only log, one record per line,
 *   `+ TAB key TAB reason-index TAB at TAB source`   or   `- TAB key`.
 * Replaying it in order rebuilds the live set. A crash mid-append leaves a torn last
 * line without its newline; load() drops it (that batch was never acknowledged).
 *
 * Only the owner (the node serving the list) calls load(), append() and compact();
 * a client (the CLI) only reads a snapshot() and leaves its changes in the inbox.
 */
export class SuppressionLog {
  readonly #path: string;
  #handle: FileHandle | null = null;
  #records = 0;
  #loaded = false;
  /** Bytes of whole records in the file. */
  #bytes = 0;

  constructor(dataDir: string) {
    this.#path = join(dataDir, 'suppression.log');
  }

  /** Records in the file, live or superseded: compaction compares it with the live count. */
  get records(): number {
    return this.#records;
  }

  static formatAdd(key: string, entry: SuppressionEntry): string {
    return `+\t${key}\t${reasonIndex(entry.reason)}\t${entry.at}\t${entry.source}\n`;
  }

  static formatRemove(key: string): string {
    return `-\t${key}\n`;
  }

  /** Replays the log into `table` and opens it for appending. */
  async load(table: SuppressionTable): Promise<void> {
    const handle = await open(this.#path, 'a+');
    let buffer: Buffer;
    try {
      buffer = await handle.readFile();
    } finally {
      await handle.close();
    }
    const end = buffer.lastIndexOf(NEWLINE) + 1;
    this.#records = replay(buffer, end, table);
    this.#bytes = end;
    if (end < buffer.length) await truncate(this.#path, end);
    this.#handle = await open(this.#path, 'a');
    this.#loaded = true;
  }

  /**
   * Replays the log as it is now, read-only. The owner may be appending meanwhile: a
   * torn last line is its batch in flight and is ignored, not cut off. A compaction
   * renames a whole new file over the log, so the read sees the old file or the new.
   */
  async snapshot(sink: RecordSink): Promise<void> {
    let buffer: Buffer;
    try {
      buffer = await readFile(this.#path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    replayRecords(buffer, sink);
  }

  /** Appends records and fsyncs: when this resolves the batch survives a crash. */
  async append(text: string, records: number): Promise<void> {
    if (!this.#loaded) throw new Error('suppression log is not loaded');
    this.#handle ??= await open(this.#path, 'a');
    const handle = this.#handle;
    const bytes = Buffer.from(text, 'utf8');
    try {
      await handle.appendFile(bytes);
      await handle.datasync();
    } catch (error) {
      // Cut a half-written batch off, or the next batch would glue onto its torn line.
      await handle.truncate(this.#bytes).catch(() => undefined);
      throw error;
    }
    this.#bytes += bytes.length;
    this.#records += records;
  }

  /** Rewrites the log with only the live entries (temp file, fsync, atomic rename). */
  async compact(table: SuppressionTable): Promise<void> {
    const temp = `${this.#path}.compact`;
    const out = await open(temp, 'w');
    let written = 0;
    let bytes = 0;
    try {
      let chunk = '';
      for (const entry of table.entries()) {
        chunk += SuppressionLog.formatAdd(entry.address, entry);
        written++;
        if (chunk.length >= CHUNK_CHARS) {
          bytes += Buffer.byteLength(chunk);
          await out.appendFile(chunk, 'utf8');
          chunk = '';
        }
      }
      bytes += Buffer.byteLength(chunk);
      await out.appendFile(chunk, 'utf8');
      await out.sync();
    } finally {
      await out.close();
    }
    // Until the rename the old log stays complete and open; after it, the next append
    // opens the new file instead of writing through the old, unlinked descriptor.
    await rename(temp, this.#path);
    this.#records = written;
    this.#bytes = bytes;
    const old = this.#handle;
    this.#handle = null;
    await old?.close().catch(() => undefined);
    await syncDir(dirname(this.#path));
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close();
  }
}

/** Replays the whole records in `buffer` (a torn last line is skipped); returns how many. */
export function replayRecords(buffer: Buffer, sink: RecordSink): number {
  return replay(buffer, buffer.lastIndexOf(NEWLINE) + 1, sink);
}

/**
 * Parses records straight from the bytes. Keys are decoded with toString(start, end)
 * so each is a fresh flat string: slicing one big decoded string would make V8 keep
 * the whole file alive behind a million sliced strings.
 */
function replay(buffer: Buffer, end: number, sink: RecordSink): number {
  let records = 0;
  let start = 0;
  while (start < end) {
    const lineEnd = buffer.indexOf(NEWLINE, start);
    if (applyLine(buffer, start, lineEnd, sink)) records++;
    start = lineEnd + 1;
  }
  return records;
}

function applyLine(buffer: Buffer, start: number, end: number, sink: RecordSink): boolean {
  const op = buffer[start];
  const keyStart = start + 2;
  if (buffer[start + 1] !== TAB || keyStart >= end) return false;
  if (op === MINUS) {
    sink.delete(buffer.toString('utf8', keyStart, end));
    return true;
  }
  if (op !== PLUS) return false;
  const keyEnd = buffer.indexOf(TAB, keyStart);
  const reasonEnd = keyEnd < 0 ? -1 : buffer.indexOf(TAB, keyEnd + 1);
  const atEnd = reasonEnd < 0 ? -1 : buffer.indexOf(TAB, reasonEnd + 1);
  if (atEnd < 0 || atEnd >= end) return false;
  const reason = parseDigits(buffer, keyEnd + 1, reasonEnd);
  const at = parseDigits(buffer, reasonEnd + 1, atEnd);
  if (reason < 0 || reason >= SUPPRESSION_REASONS.length || at < 0) return false;
  const key = buffer.toString('utf8', keyStart, keyEnd);
  sink.set(key, {
    address: key,
    reason: reasonAt(reason),
    at,
    source: buffer.toString('utf8', atEnd + 1, end),
  });
  return true;
}

/** A non-negative integer from ASCII digits; -1 when malformed. */
function parseDigits(buffer: Buffer, start: number, end: number): number {
  if (start >= end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = (buffer[i] ?? 0) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
