/**
 * Reading segments back at start. Records are checked one by one; damage (a torn tail
 * after a crash, a flipped bit) is copied to quarantine/<segment>-<offset>.bad and
 * reported, and the scan resyncs on the next valid record (see segment-format.ts), so a
 * bad record costs that message only.
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
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
  readonly onCorrupt: (file: string, reason: string) => void;
}

export interface ScanResult {
  /** Every message found, in spool order (later copies replace earlier ones in the index). */
  readonly envelopes: Map<string, Envelope>;
  /** Segment numbers in which each id was found (more than one after an interrupted compaction). */
  readonly foundIn: Map<string, number | number[]>;
  /** Segments to empty and unlink: damage in the middle, or stale copies of moved records. */
  readonly rewrite: Set<number>;
  /** Segments whose damage runs to their end: truncated there. */
  readonly cutAt: Map<number, number>;
}

export async function scanSegments(o: ScanOptions): Promise<ScanResult> {
  const result: ScanResult = { envelopes: new Map(), foundIn: new Map(), rewrite: new Set(), cutAt: new Map() };
  for (const n of o.numbers) {
    const name = SegmentWriter.fileName(n);
    const path = join(o.segDir, name);
    const buf = await readFile(path);
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
      const prev = o.index.get(id);
      if (prev) {
        // A crash between moving a record and unlinking its old segment: finish the move.
        result.rewrite.add(prev.seg);
        const seen = result.foundIn.get(id) ?? [];
        result.foundIn.set(id, [...(Array.isArray(seen) ? seen : [seen]), n]);
      } else result.foundIn.set(id, n);
      o.index.set(id, { seg: n, offset: at, metaLength: rec.metaLength, bodyLength: rec.bodyLength });
      result.envelopes.set(id, envelope);
      at += recordBytes(rec.metaLength, rec.bodyLength);
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
