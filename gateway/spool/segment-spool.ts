/**
 * The segment spool: messages appended to shared segment files with group commit (one
 * writev + one fdatasync for every commit that arrived while the previous batch synced),
 * instead of a file, an fsync and a directory fsync per message (DiskSpool).
 *
 *   <root>/seg/<n>.seg          records (segment-format.ts); a new one at start and every ~16 MB
 *   <root>/seg/<n>.key          the segment's key again: damage at the start of <n>.seg costs only the records there
 *   <root>/journal.log          recipient states, attempts and removals (segment-journal.ts)
 *   <root>/quarantine/*.bad     damaged bytes found at recovery
 *
 * A segment is unlinked once no live message is left in it. Long-deferred messages do not
 * pin whole segments: compaction re-commits the live records of a mostly-dead segment
 * into the current one and unlinks the old file.
 */
import { mkdir, open, readdir, statfs, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clock } from '../state/types.js';
import type { AttemptRecord, CorruptReport, Envelope, RecipientState, RecoveredMessage, Spool } from './types.js';
import { SluiceError } from '../errors.js';
import { BodyCache } from './body-cache.js';
import { DirSyncer } from './dir-syncer.js';
import { encodeRecord, newSegmentKey, parseEnvelope, readRecord, readRecordMeta, recordBytes, RECORD_HEADER_BYTES, type ParsedRecord } from './segment-format.js';
import { SegmentIndex, type EntryLocation } from './segment-index.js';
import { deferralsOf, doneLine, doneStates, factLines, isRemoved, removedFrom, SegmentJournal, unpackDeferral, type JournalFacts, type JournalLine, type JournalRead } from './segment-journal.js';
import { importLegacySpool } from './segment-legacy-import.js';
import { SegmentReaders } from './segment-readers.js';
import { dropOrphanKeys, reportDamage, scanSegments, type ScanResult } from './segment-recovery.js';
import { SegmentWriteError, SegmentWriter } from './segment-writer.js';

export interface SegmentSpoolOptions {
  /** Time for compaction ages (tests inject a fake clock). */
  readonly clock?: Clock;
  /**
   * A segment is sealed and a new one started past this size. Default 16 MB: recovery
   * reads one whole segment at a time, so this bounds the memory it needs for that.
   */
  readonly segmentBytes?: number;
  /** Bodies of recent commits kept in memory: most are delivered seconds later. Default 64 MB. */
  readonly cacheBytes?: number;
  /** How often compaction runs; 0: only when compact() is called. Default 60 s. */
  readonly compactEveryMs?: number;
  /** Segments sealed more recently than this are left alone. Default 60 s. */
  readonly compactMinAgeMs?: number;
  /** A sealed segment whose live bytes are below this share of its size is compacted. Default 0.25. */
  readonly compactLiveRatio?: number;
  /** The journal is rewritten once it grew by this much and by twice its last rewrite. Default 4 MB. */
  readonly journalCompactBytes?: number;
}

export interface CompactionReport {
  readonly moved: number;
  readonly freedSegments: number;
}

const MB = 1024 * 1024;
const MOVE_CONCURRENCY = 64;
const READ_RETRIES = 3;
/** The journal facts of a message it says nothing about. */
const NONE: ReadonlyMap<string, never> = new Map<string, never>();

export class SegmentSpool implements Spool {
  private readonly index = new SegmentIndex();
  private readonly key = newSegmentKey();
  private readonly cache: BodyCache;
  private readonly clock: Clock;
  private readonly segDir: string;
  private readonly segDirSync: DirSyncer;
  private readonly readers: SegmentReaders;
  private writer!: SegmentWriter;
  private journal!: SegmentJournal;
  /** Segments found at open, read by recover(). */
  private oldSegments: number[] = [];
  /** Unlinks in flight, and segments unlinked since the last directory fsync. */
  private readonly unlinking = new Set<Promise<void>>();
  private readonly goneNotSynced = new Set<number>();
  private maintenance: Promise<void> = Promise.resolve();
  private journalCompactionQueued = false;
  private recovered = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly root: string,
    private readonly opts: SegmentSpoolOptions,
  ) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.cache = new BodyCache(opts.cacheBytes ?? 64 * MB);
    this.segDir = join(root, 'seg');
    this.segDirSync = new DirSyncer(this.segDir);
    this.readers = new SegmentReaders(this.segDir);
  }

  static async open(root: string, opts: SegmentSpoolOptions = {}): Promise<SegmentSpool> {
    const spool = new SegmentSpool(root, opts);
    await mkdir(spool.segDir, { recursive: true });
    await mkdir(join(root, 'quarantine'), { recursive: true });
    // seg/ (and the spool dir, if just made) must be durable names before a record is
    // acknowledged inside them; each new segment file is synced into seg/ by the writer.
    for (const d of [root, dirname(root)]) await new DirSyncer(d).sync();
    spool.oldSegments = (await readdir(spool.segDir))
      .map((f) => /^(\d{8})\.seg$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    spool.journal = await SegmentJournal.open(join(root, 'journal.log'), () => spool.journalFlushed());
    spool.writer = new SegmentWriter({
      dir: spool.segDir,
      firstNumber: (spool.oldSegments[spool.oldSegments.length - 1] ?? 0) + 1,
      maxBytes: opts.segmentBytes ?? 16 * MB,
      key: spool.key,
      events: {
        created: (n, key, size) => spool.index.addSegment({ n, key, size, live: 0, liveBytes: 0, sealed: false, sealedAt: 0 }),
        sealed: (n, size) => spool.segmentSealed(n, size),
      },
    });
    const every = opts.compactEveryMs ?? 60_000;
    if (every > 0) {
      spool.timer = setInterval(() => void spool.compact().catch(() => undefined), every);
      spool.timer.unref();
    }
    return spool;
  }

  /** fdatasyncs done by group commit so far (far fewer than commits under load). */
  get syncs(): number {
    return this.writer.syncs;
  }

  async commit(envelope: Envelope, body: Buffer): Promise<void> {
    const meta = Buffer.from(JSON.stringify(envelope));
    let at;
    try {
      at = await this.writer.append(encodeRecord(this.key, meta, body));
    } catch (err) {
      // The record may be in the file, unsynced; the client got a 451 and will send it again,
      // so a copy found at the next start must not be delivered as well.
      if (err instanceof SegmentWriteError && err.seg !== null) this.journal.append(doneLine(envelope.id, err.seg));
      throw new SluiceError('SPOOL_WRITE_FAILED', `spool write failed for ${envelope.id}`, { cause: err });
    }
    this.index.set(envelope.id, { seg: at.seg, offset: at.offset, metaLength: meta.length, bodyLength: body.length });
    this.cache.set(envelope.id, body);
  }

  forget(id: string): void {
    this.cache.delete(id);
  }

  async readBody(id: string): Promise<Buffer> {
    return this.cache.get(id) ?? (await this.readLive(id, (loc) => this.readAt(loc))).body;
  }

  /** Reads the record's header and envelope only (the body stays on disk). */
  async readEnvelope(id: string): Promise<Envelope> {
    const envelope = parseEnvelope(await this.readLive(id, (loc) => this.readMetaAt(loc)));
    if (envelope?.id !== id) throw new SluiceError('SPOOL_CORRUPT', `${id}: its record holds no envelope of its own`);
    return envelope;
  }

  record(id: string, rcpt: string, state: RecipientState | AttemptRecord): void {
    if (typeof state === 'string') this.journal.append({ id, r: rcpt, s: state });
    else this.journal.append(state.nextAt === undefined ? { id, r: rcpt, a: state.attempts } : { id, r: rcpt, a: state.attempts, n: state.nextAt });
  }

  recorded(): Promise<void> {
    return this.journal.flush();
  }

  /** Never rejects: callers fire and forget it. */
  async remove(id: string): Promise<void> {
    this.cache.delete(id);
    const loc = this.index.delete(id);
    if (!loc) return;
    this.journal.append(doneLine(id, loc.seg));
    const seg = this.index.segment(loc.seg);
    if (seg?.sealed && seg.live === 0) await this.unlinkSegment(loc.seg);
  }

  recover(onMessage: (m: RecoveredMessage) => void, onCorrupt: CorruptReport): Promise<number> {
    return this.exclusive(() => this.recoverNow(onMessage, onCorrupt));
  }

  async freeBytes(): Promise<number> {
    const s = await statfs(this.root);
    return s.bavail * s.bsize;
  }

  /** Moves live records out of mostly-dead sealed segments, then rewrites the journal if due. */
  compact(): Promise<CompactionReport> {
    return this.exclusive(async () => {
      if (this.closed) return { moved: 0, freedSegments: 0 };
      const now = this.clock.now();
      const ratio = this.opts.compactLiveRatio ?? 0.25;
      const minAge = this.opts.compactMinAgeMs ?? 60_000;
      let moved = 0;
      let freedSegments = 0;
      for (const s of this.index.segments()) {
        if (this.closed) break;
        if (!s.sealed || s.live === 0 || now - s.sealedAt < minAge || s.liveBytes >= ratio * s.size) continue;
        const r = await this.moveLive(s.n);
        moved += r.moved;
        if (r.freed) freedSegments++;
      }
      if (this.journalDue()) await this.compactJournal();
      return { moved, freedSegments };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.maintenance;
    await this.writer.close();
    await this.journal.close();
    await this.readers.closeAll();
    await Promise.all(this.unlinking);
  }

  private async recoverNow(onMessage: (m: RecoveredMessage) => void, onCorrupt: CorruptReport): Promise<number> {
    const old = this.oldSegments;
    this.oldSegments = [];
    const { found, scan, read } = await this.scanWithJournal(old, onMessage, onCorrupt);
    for (const n of old) {
      const s = this.index.segment(n);
      if (s && s.live === 0) await this.unlinkSegment(n);
    }
    await dropOrphanKeys(this.segDir, (n) => this.index.segment(n) !== undefined || n >= this.writer.firstNumber);
    for (const [n, at] of scan.cutAt) if (!scan.rewrite.has(n)) await this.cutSegment(n, at);
    for (const n of scan.rewrite) if (this.index.segment(n)) await this.moveLive(n);
    const imported = await importLegacySpool(this.root, { has: (id) => this.index.has(id), commit: (e, b) => this.commit(e, b), record: (i, r, s) => this.record(i, r, s) }, onMessage, onCorrupt);
    this.recovered = true;
    // On a full disk the rewrite fails: the journal stays as it is, and start goes on
    // (the node must deliver to free space, issue 11). It builds on the scan's read of the
    // journal (and what was appended since) rather than reading it all a second time.
    await this.compactJournal(read).catch(() => undefined);
    return found + imported;
  }

  /**
   * Reads the journal, then the segments, handing each live message over as it is read
   * with its journal facts. The facts are kept for the journal's rewrite after recovery.
   */
  private async scanWithJournal(numbers: number[], onMessage: (m: RecoveredMessage) => void, onCorrupt: CorruptReport): Promise<{ found: number; scan: ScanResult; read: JournalRead }> {
    const read = await this.journal.read((g) =>
      onCorrupt('journal.log', `journal: ${g.length} bytes skipped, not facts (they began "${g.sample}")`, { where: 'journal.log', offset: g.offset, length: g.length, quarantined: null, lost: [], unchecked: [], tornTail: g.atEnd === true }),
    );
    const facts = read.facts;
    let found = 0;
    const scan = await scanSegments({
      segDir: this.segDir,
      quarantineDir: join(this.root, 'quarantine'),
      numbers,
      index: this.index,
      now: this.clock.now(),
      removed: (id) => isRemoved(facts.get(id)),
      doneOf: (id) => doneStates(facts.get(id)) ?? NONE,
      found: (envelope) => {
        const f = facts.get(envelope.id);
        onMessage({ envelope, done: doneStates(f) ?? NONE, ...deferrals(deferralsOf(f)) });
        found++;
      },
    });
    reportDamage(scan, (id) => this.index.has(id), (line) => this.journal.append(line), onCorrupt);
    // The done fact must outlive every copy, also one its done line does not name.
    for (const [id, segs] of scan.removedIn) {
      const named = removedFrom(facts.get(id));
      for (const seg of new Set(segs)) if (!named.includes(seg)) this.journal.append(doneLine(id, seg));
    }
    return { found, scan, read };
  }

  /** Part of a live message's record, checked; read again when compaction moved it meanwhile. */
  private async readLive<T>(id: string, read: (loc: EntryLocation) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const loc = this.index.get(id);
      if (!loc) throw new SluiceError('SPOOL_CORRUPT', `${id} is not in the spool`);
      try {
        return await read(loc);
      } catch (err) {
        // Compaction may have moved it (and unlinked the old segment) under our feet.
        const now = this.index.get(id);
        const moved = now !== undefined && (now.seg !== loc.seg || now.offset !== loc.offset);
        if (!moved || attempt >= READ_RETRIES) throw err instanceof SluiceError ? err : new SluiceError('SPOOL_CORRUPT', `${id}: cannot read its segment`, { cause: err });
      }
    }
  }

  private async readAt(loc: EntryLocation): Promise<ParsedRecord> {
    const seg = this.index.segment(loc.seg);
    if (!seg) throw new SluiceError('SPOOL_CORRUPT', `segment ${loc.seg} is gone`);
    const buf = await this.readers.read(loc.seg, loc.offset, recordBytes(loc.metaLength, loc.bodyLength));
    const rec = readRecord(buf, 0, seg.key);
    if (typeof rec === 'string') throw new SluiceError('SPOOL_CORRUPT', `segment ${loc.seg} at ${loc.offset}: ${rec}`);
    return rec;
  }

  private async readMetaAt(loc: EntryLocation): Promise<Buffer> {
    const seg = this.index.segment(loc.seg);
    if (!seg) throw new SluiceError('SPOOL_CORRUPT', `segment ${loc.seg} is gone`);
    const meta = readRecordMeta(await this.readers.read(loc.seg, loc.offset, RECORD_HEADER_BYTES + loc.metaLength), seg.key);
    if (meta === null) return (await this.readAt(loc)).meta; // a v1 record: only the whole record checks out
    if (typeof meta === 'string') throw new SluiceError('SPOOL_CORRUPT', `segment ${loc.seg} at ${loc.offset}: ${meta}`);
    return meta;
  }

  /** Re-commits the live records of segment `n` into the current segment; unlinks it once empty. */
  private async moveLive(n: number): Promise<{ moved: number; freed: boolean }> {
    const entries = this.index.entriesIn(n);
    let moved = 0;
    for (let i = 0; i < entries.length && !this.closed; i += MOVE_CONCURRENCY) {
      const chunk = entries.slice(i, i + MOVE_CONCURRENCY);
      const results = await Promise.all(chunk.map(([id, loc]) => this.moveOne(id, loc)));
      moved += results.filter(Boolean).length;
    }
    const s = this.index.segment(n);
    if (!s || s.live > 0) return { moved, freed: !s };
    await this.unlinkSegment(n);
    return { moved, freed: true };
  }

  private async moveOne(id: string, loc: EntryLocation): Promise<boolean> {
    const seg = this.index.segment(loc.seg);
    if (!seg) return false;
    let rec;
    try {
      rec = readRecord(await this.readers.read(loc.seg, loc.offset, recordBytes(loc.metaLength, loc.bodyLength)), 0, seg.key);
    } catch {
      return false; // removed meanwhile, or unreadable: it stays where it is
    }
    if (typeof rec === 'string') return false;
    let at;
    try {
      at = await this.writer.append(encodeRecord(this.key, rec.meta, rec.body));
    } catch {
      return false; // no space (or a failed write): it stays where it is, still live
    }
    const cur = this.index.get(id);
    if (cur && cur.seg === loc.seg && cur.offset === loc.offset) {
      // The new copy is durable: only now does the index (and readBody) point at it.
      this.index.set(id, { ...loc, seg: at.seg, offset: at.offset });
      return true;
    }
    this.journal.append(doneLine(id, at.seg)); // removed while it moved: the new copy is dead too
    return false;
  }

  private segmentSealed(n: number, size: number): void {
    const s = this.index.segment(n);
    if (!s) return;
    s.size = size;
    s.sealed = true;
    s.sealedAt = this.clock.now();
    if (s.live === 0) void this.unlinkSegment(n);
  }

  private async unlinkSegment(n: number): Promise<void> {
    if (!this.index.segment(n)) return;
    this.index.dropSegment(n);
    this.readers.forget(n);
    this.goneNotSynced.add(n);
    const p = unlink(join(this.segDir, SegmentWriter.fileName(n)))
      .catch(() => undefined)
      .then(() => unlink(join(this.segDir, SegmentWriter.keyFileName(n))))
      .catch(() => undefined)
      .finally(() => this.unlinking.delete(p));
    this.unlinking.add(p);
    await p;
  }

  /** Drops a torn tail (already in quarantine) so that it is not reported again. */
  private async cutSegment(n: number, at: number): Promise<void> {
    const s = this.index.segment(n);
    if (!s) return;
    const fh = await open(join(this.segDir, SegmentWriter.fileName(n)), 'r+');
    try {
      await fh.truncate(at);
      await fh.sync();
    } finally {
      await fh.close();
    }
    s.size = at;
  }

  private journalFlushed(): void {
    if (this.journalCompactionQueued || this.closed || !this.journalDue()) return;
    this.journalCompactionQueued = true;
    void this.exclusive(() => this.compactJournal())
      .catch(() => undefined)
      .finally(() => {
        this.journalCompactionQueued = false;
        // What was appended while it ran may already be due again (no flush would tell us).
        this.journalFlushed();
      });
  }

  private journalDue(): boolean {
    // Before recovery the index knows nothing of older messages: a rewrite would drop their facts.
    return this.recovered && this.journal.grownBytes > Math.max(this.opts.journalCompactBytes ?? 4 * MB, 2 * this.journal.baseBytes);
  }

  /**
   * Rewrites the journal with what live state needs. A done line is dropped only once its
   * segment's unlink is durable (directory fsync'd first): a segment that came back after
   * a crash without its done lines would send all its dead messages again.
   */
  private async compactJournal(known?: JournalRead): Promise<void> {
    const synced = new Set(this.goneNotSynced);
    await Promise.all(this.unlinking);
    await this.segDirSync.sync();
    for (const n of synced) this.goneNotSynced.delete(n);
    await this.journal.rewrite((facts) => this.liveLines(facts), known);
  }

  private *liveLines(facts: Map<string, JournalFacts>): Iterable<JournalLine> {
    for (const [id, f] of facts) {
      if (this.index.has(id)) yield* factLines(id, f);
      else for (const seg of new Set(removedFrom(f))) if (this.index.segment(seg) || this.goneNotSynced.has(seg)) yield doneLine(id, seg);
    }
  }

  /** Recovery, compaction and journal rewrites run one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(fn);
    this.maintenance = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** The attempt counts and retry times recovery hands over, unpacked from the journal's facts. */
function deferrals(packed: ReadonlyMap<string, number> | null): Pick<RecoveredMessage, 'attempts' | 'retryAt'> {
  if (packed === null) return { attempts: NONE };
  const attempts = new Map<string, number>();
  let retryAt: Map<string, number> | undefined;
  for (const [rcpt, v] of packed) {
    const d = unpackDeferral(v);
    attempts.set(rcpt, d.attempts);
    if (d.nextAt !== undefined) (retryAt ??= new Map()).set(rcpt, d.nextAt);
  }
  return retryAt === undefined ? { attempts } : { attempts, retryAt };
}
