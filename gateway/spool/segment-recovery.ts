/**
 * Reading segments back at start. Records are checked one by one; damage (a torn tail
 * after a crash, a flipped bit, a zeroed block) is copied to quarantine/<segment>-<offset>.bad
 * and reported, and the scan resyncs on the next valid record (see segment-format.ts), so a
 * bad record costs that message only.
 *
 * A segment's key is in its header (twice) and in seg/<n>.key. When both header copies
 * are damaged the key file opens the segment; for a segment from before key files
 * existed, the key of any other segment is tried (one run writes all its segments with
 * one key): a key is right when a record checks out under it (an HMAC cannot be forged).
 *
 * On a full disk the copy to quarantine fails: a torn tail is cut anyway (its offsets
 * are in the report) and damage in the middle stays where it is, so that start works
 * with zero free bytes (issue 11).
 */
import { open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CorruptReport, Envelope, LostMessage, RecipientState, SpoolDamage } from './types.js';
import { doneLine, type JournalLine } from './segment-journal.js';
import type { SegmentIndex } from './segment-index.js';
import { encodeSegmentHeader, magicOffsets, nextRecord, parseEnvelope, parseSegmentHeader, readRecord, recordBytes, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, survivingMeta } from './segment-format.js';
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
  /** Final recipient states the journal holds for a message. */
  readonly doneOf: (id: string) => ReadonlyMap<string, RecipientState>;
  /** Each live message, once (at its first copy), as soon as it is read. */
  readonly found: (envelope: Envelope) => void;
}

export interface ScanResult {
  /** Segments holding a copy of a removed message, by id: each needs a done line. */
  readonly removedIn: Map<string, number[]>;
  /** Segments to empty and unlink: damage in the middle, or stale copies of moved records. */
  readonly rewrite: Set<number>;
  /** Segments whose damage runs to their end: truncated there. */
  readonly cutAt: Map<number, number>;
  /**
   * Every damaged region, reported once the scan is over: a lost record may have a good
   * copy in a later segment (compaction cut short), and then it is not lost.
   */
  readonly damage: { readonly reason: string; readonly damage: SpoolDamage }[];
}

export async function scanSegments(o: ScanOptions): Promise<ScanResult> {
  const result: ScanResult = { removedIn: new Map(), rewrite: new Set(), cutAt: new Map(), damage: [] };
  const keys = await knownKeys(o.segDir, o.numbers);
  const newest = o.numbers[o.numbers.length - 1];
  // One buffer for every segment, in turn, as large as the largest: a fresh one each, or
  // one grown whenever a segment is a few bytes longer than the last (they all end just
  // past segment_size), left several segments' worth of garbage until the next full
  // collection (70 MB at a restart with 100 000 queued).
  const sizes = new Map<number, number>();
  for (const n of o.numbers) sizes.set(n, await fileSize(join(o.segDir, SegmentWriter.fileName(n))));
  const space = Buffer.allocUnsafeSlow([...sizes.values()].reduce((a, b) => Math.max(a, b), 0));
  for (const n of o.numbers) {
    const path = join(o.segDir, SegmentWriter.fileName(n));
    const buf = await readInto(path, space.subarray(0, sizes.get(n)));
    if (buf.length < SEGMENT_HEADER_BYTES) {
      // Records are only appended once the whole header is fsync'd: nothing was acknowledged here.
      await unlink(path).catch(() => undefined);
      await unlink(join(o.segDir, SegmentWriter.keyFileName(n))).catch(() => undefined);
      continue;
    }
    const own = parseSegmentHeader(buf);
    const key = typeof own === 'string' ? (keys.fromFile.get(n) ?? findKey(buf, keys.all)) : own;
    if (key === null) {
      await quarantineWhole(o, n, buf, result);
      continue;
    }
    o.index.addSegment({ n, key, size: buf.length, live: 0, liveBytes: 0, sealed: true, sealedAt: o.now });
    // A segment from before key files gets one now, so that a later damaged header costs
    // it no more than a new segment's would. Best effort: on a full disk it stays without.
    if (!keys.fromFile.has(n)) await writeFile(join(o.segDir, SegmentWriter.keyFileName(n)), encodeSegmentHeader(key), { mode: 0o600 }).catch(() => undefined);
    if (typeof own === 'string') {
      // Its records move to a sound segment, so the damage is reported once.
      const from = keys.fromFile.has(n) ? SegmentWriter.keyFileName(n) : "another segment's header";
      result.damage.push({ reason: `${own}; key read from ${from}`, damage: { where: `seg/${SegmentWriter.fileName(n)}`, offset: 0, length: SEGMENT_HEADER_BYTES, quarantined: null, lost: [], unchecked: [], tornTail: false } });
      result.rewrite.add(n);
    }
    await scanOne(buf, n, key, o, result, n === newest);
  }
  return result;
}

async function scanOne(buf: Buffer, n: number, key: Buffer, o: ScanOptions, result: ScanResult, newest: boolean): Promise<void> {
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
    await damaged(buf, n, at, end, key, reason, o, result, newest && next === null);
    at = end;
  }
}

/** Quarantines (or, with no space, reports in place) the damaged region [at, end) of segment `n`. */
async function damaged(buf: Buffer, n: number, at: number, end: number, key: Buffer, reason: string, o: ScanOptions, result: ScanResult, tornTail: boolean): Promise<void> {
  const from = at;
  const file = quarantineName(n, from);
  let quarantined: string | null = file;
  let why = reason;
  try {
    await writeFile(join(o.quarantineDir, file), buf.subarray(from, end), { mode: 0o600 });
  } catch (err) {
    quarantined = null;
    why = `${reason}; not copied to quarantine (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${end === buf.length ? 'cut off' : 'left in place'}`;
  }
  const lost: LostMessage[] = [];
  for (const off of magicOffsets(buf, at, end)) {
    const meta = survivingMeta(buf, off, key, end);
    const envelope = meta ? parseEnvelope(meta) : null;
    if (!envelope || o.removed(envelope.id) || lost.some((m) => m.envelope.id === envelope.id)) continue;
    // A record longer than the file never finished its write: the client got no 250.
    if (recordBytes(buf.readUInt32BE(off + 8), buf.readUInt32BE(off + 12)) > buf.length - off) continue;
    lost.push({ envelope, done: o.doneOf(envelope.id) });
  }
  result.damage.push({ reason: why, damage: { where: `seg/${SegmentWriter.fileName(n)}`, offset: from, length: end - from, quarantined, lost, unchecked: [], tornTail } });
  if (end === buf.length) result.cutAt.set(n, at);
  else if (quarantined !== null) result.rewrite.add(n);
}

/** A segment no known key opens: moved to quarantine whole (a rename needs no free space). */
async function quarantineWhole(o: ScanOptions, n: number, buf: Buffer, result: ScanResult): Promise<void> {
  const file = quarantineName(n, 0);
  let quarantined: string | null = file;
  try {
    await rename(join(o.segDir, SegmentWriter.fileName(n)), join(o.quarantineDir, file));
  } catch {
    quarantined = null;
  }
  await unlink(join(o.segDir, SegmentWriter.keyFileName(n))).catch(() => undefined);
  const unchecked: { id: string; mailFrom: string; messageId: string | null }[] = [];
  for (const off of magicOffsets(buf, 0)) {
    if (off + RECORD_HEADER_BYTES > buf.length) break;
    const metaAt = off + RECORD_HEADER_BYTES;
    const e = parseEnvelope(buf.subarray(metaAt, metaAt + Math.min(buf.readUInt32BE(off + 8), 64 * 1024)));
    if (e && typeof e.mailFrom === 'string') unchecked.push({ id: e.id, mailFrom: e.mailFrom, messageId: typeof e.messageId === 'string' ? e.messageId : null });
  }
  result.damage.push({ reason: 'segment header corrupt and no key opens it', damage: { where: `seg/${SegmentWriter.fileName(n)}`, offset: 0, length: buf.length, quarantined, lost: [], unchecked, tornTail: false } });
}

/** Keys from key files, and every key any header or key file holds (candidates for a segment that lost both). */
async function knownKeys(dir: string, numbers: readonly number[]): Promise<{ fromFile: Map<number, Buffer>; all: Buffer[] }> {
  const fromFile = new Map<number, Buffer>();
  const all = new Map<string, Buffer>();
  for (const n of numbers) {
    const kf = await readFile(join(dir, SegmentWriter.keyFileName(n))).catch(() => null);
    const k = kf ? parseSegmentHeader(kf) : null;
    if (k instanceof Buffer) {
      fromFile.set(n, k);
      all.set(k.toString('hex'), k);
    }
    const head = await readHead(join(dir, SegmentWriter.fileName(n)));
    const h = head ? parseSegmentHeader(head) : null;
    if (h instanceof Buffer) all.set(h.toString('hex'), h);
  }
  return { fromFile, all: [...all.values()] };
}

function findKey(buf: Buffer, candidates: readonly Buffer[]): Buffer | null {
  return candidates.find((k) => nextRecord(buf, 0, k) !== null) ?? null;
}

async function readHead(path: string): Promise<Buffer | null> {
  const fh = await open(path, 'r').catch(() => null);
  if (!fh) return null;
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function fileSize(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

async function readInto(path: string, buf: Buffer): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    let at = 0;
    while (at < buf.length) {
      const { bytesRead } = await fh.read(buf, at, buf.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return buf.subarray(0, at);
  } finally {
    await fh.close();
  }
}

/**
 * Reports each damaged region once the scan is over: a record lost in one segment whose
 * good copy is in a later one (compaction cut short) is not lost. A lost message gets a
 * done line, so that a region left in place (no space to move around it) does not report
 * it, and DSN its sender, again at the next start.
 */
export function reportDamage(scan: ScanResult, live: (id: string) => boolean, journal: (line: JournalLine) => void, onCorrupt: CorruptReport): void {
  for (const { reason, damage } of scan.damage) {
    const lost = damage.lost.filter((m) => !live(m.envelope.id));
    const seg = Number(/(\d{8})\.seg$/.exec(damage.where)?.[1]);
    for (const m of lost) journal(doneLine(m.envelope.id, seg));
    onCorrupt(damage.quarantined ?? damage.where, reason, { ...damage, lost });
  }
}

/** Key files whose segment is gone (unlinked just before a crash, or quarantined). */
export async function dropOrphanKeys(segDir: string, keep: (n: number) => boolean): Promise<void> {
  const names = await readdir(segDir).catch(() => [] as string[]);
  for (const f of names) {
    const n = Number(/^(\d{8})\.key$/.exec(f)?.[1] ?? NaN);
    if (Number.isNaN(n) || keep(n)) continue;
    await unlink(join(segDir, f)).catch(() => undefined);
  }
}

export function quarantineName(seg: number, offset: number): string {
  return `${String(seg).padStart(8, '0')}-${offset}.bad`;
}
