/**
 * Reading segments back at start. Records are checked one by one; damage (a torn tail
 * after a crash, a flipped bit) is copied to quarantine/<segment>-<offset>.bad and
 * reported, and the scan resyncs on the next valid record (see segment-format.ts), so a
 * bad record costs that message only.
 */
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Envelope } from './types.js';
import type { SegmentIndex } from './segment-index.js';
import { nextRecord, parseEnvelope, parseSegmentHeader, readRecord, recordBytes, SEGMENT_HEADER_BYTES } from './segment-format.js';
import { SegmentWriter } from './segment-writer.js';

export interface ScanOptions {
  readonly segDir: string;
  readonly quarantineDir: string;
  /** Segment numbers to read, oldest first. */
  readonly numbers: readonly number[];
  readonly index: SegmentIndex;
  readonly now: number;
  /** True when the journal says the message left the spool: its copies are dead. */
  readonly removed: (id: string) => boolean;
  /** Each live message, once (at its first copy), as soon as it is read. */
  readonly found: (envelope: Envelope) => void;
  readonly onCorrupt: (file: string, reason: string) => void;
}

export interface ScanResult {
  /** Segments holding a copy of a removed message, by id: each needs a done line. */
  readonly removedIn: Map<string, number[]>;
  /** Segments to empty and unlink: damage in the middle, or stale copies of moved records. */
  readonly rewrite: Set<number>;
  /** Segments whose damage runs to their end: truncated there. */
  readonly cutAt: Map<number, number>;
}

export async function scanSegments(o: ScanOptions): Promise<ScanResult> {
  const result: ScanResult = { removedIn: new Map(), rewrite: new Set(), cutAt: new Map() };
  // One buffer for every segment, in turn: a fresh one each would leave several
  // segments' worth alive until the next garbage collection.
  let space = Buffer.alloc(0);
  for (const n of o.numbers) {
    const name = SegmentWriter.fileName(n);
    const path = join(o.segDir, name);
    const fh = await open(path, 'r');
    let buf: Buffer;
    try {
      const size = (await fh.stat()).size;
      if (size > space.length) space = Buffer.allocUnsafeSlow(size);
      buf = space.subarray(0, size);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await fh.read(buf, at, size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
    if (buf.length < SEGMENT_HEADER_BYTES) {
      // Records are only appended once the whole header is fsync'd: nothing was acknowledged here.
      await unlink(path).catch(() => undefined);
      continue;
    }
    const key = parseSegmentHeader(buf);
    if (typeof key === 'string') {
      const file = quarantineName(n, 0);
      await rename(path, join(o.quarantineDir, file));
      o.onCorrupt(file, key);
      continue;
    }
    o.index.addSegment({ n, key, size: buf.length, live: 0, liveBytes: 0, sealed: true, sealedAt: o.now });
    await scanOne(buf, n, key, o, result);
  }
  return result;
}

async function scanOne(buf: Buffer, n: number, key: Buffer, o: ScanOptions, result: ScanResult): Promise<void> {
  let at = SEGMENT_HEADER_BYTES;
  while (at < buf.length) {
    const rec = readRecord(buf, at, key);
    const envelope = typeof rec === 'string' ? null : parseEnvelope(rec.meta);
    if (typeof rec !== 'string' && envelope) {
      const id = envelope.id;
      const offset = at;
      at += recordBytes(rec.metaLength, rec.bodyLength);
      if (o.removed(id)) {
        const segs = result.removedIn.get(id);
        if (segs) segs.push(n);
        else result.removedIn.set(id, [n]);
        continue;
      }
      const prev = o.index.get(id);
      // A crash between moving a record and unlinking its old segment: finish the move.
      if (prev) result.rewrite.add(prev.seg);
      o.index.set(id, { seg: n, offset, metaLength: rec.metaLength, bodyLength: rec.bodyLength });
      if (!prev) o.found(envelope);
      continue;
    }
    const reason = typeof rec === 'string' ? rec : 'envelope is not JSON';
    const next = nextRecord(buf, at + 1, key);
    const end = next ?? buf.length;
    const file = quarantineName(n, at);
    await writeFile(join(o.quarantineDir, file), buf.subarray(at, end), { mode: 0o600 });
    o.onCorrupt(file, reason);
    if (next === null) result.cutAt.set(n, at);
    else result.rewrite.add(n);
    at = end;
  }
}

export function quarantineName(seg: number, offset: number): string {
  return `${String(seg).padStart(8, '0')}-${offset}.bad`;
}
