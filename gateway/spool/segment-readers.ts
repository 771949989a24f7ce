/**
 * Read handles on segment files for positioned reads (readBody, compaction). A handle
 * stays open while reads use it even after its segment is unlinked (POSIX keeps the inode),
 * and is closed only once the last of them is done: closing under a read could hand its
 * fd number to another file mid-read. At most `max` handles are kept open.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SegmentWriter } from './segment-writer.js';

interface Handle {
  readonly fh: Promise<FileHandle>;
  users: number;
  /** Dropped from the table; close when the last user is done. */
  doomed: boolean;
}

export class SegmentReaders {
  private readonly handles = new Map<number, Handle>();

  constructor(
    private readonly dir: string,
    private readonly max = 64,
  ) {}

  async read(seg: number, position: number, length: number): Promise<Buffer> {
    const h = this.acquire(seg);
    try {
      const fh = await h.fh;
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, position + done);
        if (bytesRead === 0) throw new Error(`segment ${seg} ends before ${position + length}`);
        done += bytesRead;
      }
      return buf;
    } finally {
      h.users--;
      if (h.doomed && h.users === 0) void closeHandle(h);
    }
  }

  /** The segment is gone (or evicted): close its handle once nobody reads from it. */
  forget(seg: number): void {
    const h = this.handles.get(seg);
    if (!h) return;
    this.handles.delete(seg);
    h.doomed = true;
    if (h.users === 0) void closeHandle(h);
  }

  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) h.doomed = true;
    await Promise.all(all.filter((h) => h.users === 0).map(closeHandle));
  }

  private acquire(seg: number): Handle {
    let h = this.handles.get(seg);
    if (h) {
      // Map order is recency order: re-insert on use, evict from the front.
      this.handles.delete(seg);
    } else {
      const fh = open(join(this.dir, SegmentWriter.fileName(seg)), 'r');
      const fresh: Handle = { fh, users: 0, doomed: false };
      fh.catch(() => {
        if (this.handles.get(seg) === fresh) this.handles.delete(seg);
      });
      h = fresh;
    }
    this.handles.set(seg, h);
    h.users++;
    for (const [n] of this.handles) {
      if (this.handles.size <= this.max) break;
      this.forget(n);
    }
    return h;
  }
}

async function closeHandle(h: Handle): Promise<void> {
  try {
    await (await h.fh).close();
  } catch {
    // never opened, or already closed
  }
}
