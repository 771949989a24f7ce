/**
 * Group commit into segment files. Every record handed over while the previous batch is
 * being written and synced joins the next batch; a batch is ONE writev to the current
 * segment and ONE fdatasync, and only then are its promises resolved (DESIGN.md
 * "Durability contract": no 250 before its fsync). A lone record goes out at once: no
 * timer, the batching comes from the time the previous sync takes.
 *
 * A new segment is fsync'd and its directory fsync'd before anything is appended to it,
 * so an acknowledged record never sits in a file whose name is not durable yet. After a
 * failed write or sync the segment is sealed and never appended to again: after a
 * failed fsync Linux may have dropped the dirty pages, so nothing later in that file could
 * be trusted.
 *
 * The segment's key is written twice into its header and once more into seg/<n>.key:
 * a damaged block at the start of the segment file (where both header copies sit) must
 * not make every record after it unreadable (issue 11).
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SluiceError } from '../errors.js';
import { DirSyncer } from './dir-syncer.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from './segment-format.js';

export interface Written {
  readonly seg: number;
  readonly offset: number;
}

export interface SegmentEvents {
  /** A new segment is durable and about to receive records. */
  created(n: number, key: Buffer, size: number): void;
  /** A segment takes no more records (rotation, failure, close). */
  sealed(n: number, size: number): void;
}

export interface SegmentWriterOptions {
  readonly dir: string;
  readonly firstNumber: number;
  readonly maxBytes: number;
  readonly key: Buffer;
  readonly events: SegmentEvents;
}

/** A failed append; `seg` names the segment the record may have partly reached. */
export class SegmentWriteError extends SluiceError {
  constructor(
    message: string,
    readonly seg: number | null,
    cause: unknown,
  ) {
    super('SPOOL_WRITE_FAILED', message, { cause });
  }
}

interface Pending {
  readonly parts: Buffer[];
  readonly bytes: number;
  resolve(w: Written): void;
  reject(err: SegmentWriteError): void;
}

interface Current {
  readonly n: number;
  readonly fh: FileHandle;
  size: number;
}

export class SegmentWriter {
  /** fdatasyncs done for batches: far fewer than records under load. */
  syncs = 0;
  private queue: Pending[] = [];
  private running = false;
  private draining: Promise<void> = Promise.resolve();
  private current: Current | null = null;
  private nextNumber: number;
  private closed = false;
  private readonly dirSync: DirSyncer;

  /** The first segment number this writer uses: lower ones were there before it. */
  get firstNumber(): number {
    return this.opts.firstNumber;
  }

  constructor(private readonly opts: SegmentWriterOptions) {
    this.nextNumber = opts.firstNumber;
    this.dirSync = new DirSyncer(opts.dir);
  }

  static fileName(n: number): string {
    return `${String(n).padStart(8, '0')}.seg`;
  }

  /** The second home of segment `n`'s key (the header again, in its own file). */
  static keyFileName(n: number): string {
    return `${String(n).padStart(8, '0')}.key`;
  }

  /** Resolves once the record is on stable storage, with where it landed. */
  append(parts: Buffer[]): Promise<Written> {
    if (this.closed) return Promise.reject(new SegmentWriteError('spool is closed', null, null));
    return new Promise<Written>((resolve, reject) => {
      let bytes = 0;
      for (const p of parts) bytes += p.length;
      this.queue.push({ parts, bytes, resolve, reject });
      // The flag flips synchronously inside drain(): a record handed over in any later
      // tick starts a new drain instead of waiting on one that has already finished.
      if (!this.running) {
        this.running = true;
        this.draining = this.drain();
      }
    });
  }

  /** Finishes what was handed over, then closes the current segment. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.draining;
    await this.seal();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.writeBatch(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    let seg: Current;
    try {
      seg = await this.segmentForBatch();
    } catch (err) {
      for (const p of batch) p.reject(new SegmentWriteError('cannot create a spool segment', null, err));
      return;
    }
    const start = seg.size;
    const offsets: number[] = [];
    const bufs: Buffer[] = [];
    let end = start;
    for (const p of batch) {
      offsets.push(end);
      for (const part of p.parts) bufs.push(part);
      end += p.bytes;
    }
    try {
      // O_APPEND: the kernel puts it at the end; libuv loops over IOV_MAX and short writes.
      const { bytesWritten } = await seg.fh.writev(bufs);
      seg.size += bytesWritten;
      // write(2) to a regular file comes back short when the disk fills up (the next
      // call would fail with ENOSPC): say so, so that the reply is 452 4.3.1.
      if (bytesWritten !== end - start) throw Object.assign(new Error(`short write: ${bytesWritten} of ${end - start} bytes (disk full)`), { code: 'ENOSPC' });
      await seg.fh.datasync();
      this.syncs++;
    } catch (err) {
      await this.seal();
      for (const p of batch) p.reject(new SegmentWriteError(`spool segment write failed`, seg.n, err));
      return;
    }
    batch.forEach((p, i) => p.resolve({ seg: seg.n, offset: offsets[i] as number }));
  }

  private async segmentForBatch(): Promise<Current> {
    if (this.current && this.current.size >= this.opts.maxBytes) await this.seal();
    this.current ??= await this.create();
    return this.current;
  }

  private async create(): Promise<Current> {
    const n = this.nextNumber++;
    const path = join(this.opts.dir, SegmentWriter.fileName(n));
    const keyPath = join(this.opts.dir, SegmentWriter.keyFileName(n));
    const header = encodeSegmentHeader(this.opts.key);
    let fh: FileHandle | null = null;
    try {
      await writeDurably(keyPath, header);
      fh = await open(path, 'ax', 0o600);
      await fh.write(header);
      await fh.sync();
      // One directory fsync makes both names durable before a record is acknowledged.
      await this.dirSync.sync();
    } catch (err) {
      await fh?.close().catch(() => undefined);
      // Only what this call made: 'ax' failing means the segment belongs to someone else.
      if (fh) await unlink(path).catch(() => undefined);
      await unlink(keyPath).catch(() => undefined);
      throw err;
    }
    this.opts.events.created(n, this.opts.key, SEGMENT_HEADER_BYTES);
    return { n, fh, size: SEGMENT_HEADER_BYTES };
  }

  private async seal(): Promise<void> {
    const seg = this.current;
    if (!seg) return;
    this.current = null;
    await seg.fh.close().catch(() => undefined);
    this.opts.events.sealed(seg.n, seg.size);
  }
}

async function writeDurably(path: string, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.write(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
