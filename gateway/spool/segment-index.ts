/**
 * Where every live message is: id → (segment, offset, meta length, body length), and per
 * segment how many live entries and bytes it still holds.
 *
 * Kept compact on purpose: one Map from id to a slot number, the four fields in typed
 * arrays indexed by slot. 100 000 queued messages cost a few MB here, not an object each.
 */
import { recordBytes } from './segment-format.js';

export interface EntryLocation {
  readonly seg: number;
  readonly offset: number;
  readonly metaLength: number;
  readonly bodyLength: number;
}

export interface SegmentStats {
  readonly n: number;
  /** Verifies this segment's records (from its header). */
  readonly key: Buffer;
  /** File size; final once sealed. */
  size: number;
  live: number;
  liveBytes: number;
  /** Sealed: no more appends; the current segment is the only unsealed one. */
  sealed: boolean;
  /** Clock time it was sealed (or found at start); compaction leaves young segments alone. */
  sealedAt: number;
}

export class SegmentIndex {
  private readonly slots = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private highWater = 0;
  private segOf = new Uint32Array(1024);
  private offsetOf = new Float64Array(1024);
  private metaOf = new Uint32Array(1024);
  private bodyOf = new Uint32Array(1024);
  private readonly segs = new Map<number, SegmentStats>();

  get size(): number {
    return this.slots.size;
  }

  has(id: string): boolean {
    return this.slots.has(id);
  }

  get(id: string): EntryLocation | undefined {
    const s = this.slots.get(id);
    return s === undefined ? undefined : this.at(s);
  }

  /** Adds an entry, or moves it (compaction), keeping both segments' live counts right. */
  set(id: string, loc: EntryLocation): void {
    let s = this.slots.get(id);
    if (s !== undefined) this.account(this.at(s), -1);
    else {
      s = this.freeSlots.pop() ?? this.grow();
      this.slots.set(id, s);
    }
    this.segOf[s] = loc.seg;
    this.offsetOf[s] = loc.offset;
    this.metaOf[s] = loc.metaLength;
    this.bodyOf[s] = loc.bodyLength;
    this.account(loc, 1);
  }

  delete(id: string): EntryLocation | undefined {
    const s = this.slots.get(id);
    if (s === undefined) return undefined;
    const loc = this.at(s);
    this.slots.delete(id);
    this.freeSlots.push(s);
    this.account(loc, -1);
    return loc;
  }

  /** A snapshot of the entries of one segment (compaction walks it while the index changes). */
  entriesIn(seg: number): [string, EntryLocation][] {
    const out: [string, EntryLocation][] = [];
    for (const [id, s] of this.slots) if (this.segOf[s] === seg) out.push([id, this.at(s)]);
    return out;
  }

  ids(): IterableIterator<string> {
    return this.slots.keys();
  }

  addSegment(stats: SegmentStats): void {
    this.segs.set(stats.n, stats);
  }

  segment(n: number): SegmentStats | undefined {
    return this.segs.get(n);
  }

  segments(): SegmentStats[] {
    return [...this.segs.values()].sort((a, b) => a.n - b.n);
  }

  dropSegment(n: number): void {
    this.segs.delete(n);
  }

  private at(s: number): EntryLocation {
    return { seg: this.segOf[s] as number, offset: this.offsetOf[s] as number, metaLength: this.metaOf[s] as number, bodyLength: this.bodyOf[s] as number };
  }

  private account(loc: EntryLocation, sign: 1 | -1): void {
    const stats = this.segs.get(loc.seg);
    if (!stats) return;
    stats.live += sign;
    stats.liveBytes += sign * recordBytes(loc.metaLength, loc.bodyLength);
  }

  private grow(): number {
    if (this.highWater === this.segOf.length) {
      const n = this.segOf.length * 2;
      this.segOf = widen(this.segOf, new Uint32Array(n));
      this.offsetOf = widen(this.offsetOf, new Float64Array(n));
      this.metaOf = widen(this.metaOf, new Uint32Array(n));
      this.bodyOf = widen(this.bodyOf, new Uint32Array(n));
    }
    return this.highWater++;
  }
}

function widen<T extends Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
