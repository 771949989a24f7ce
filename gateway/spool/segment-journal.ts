/**
 * The spool's journal: what happened to messages after they were committed, one JSON
 * line per fact, appended in batches and never fsync'd. Losing the last lines in a crash
 * only means some recipients are tried again (at-least-once, DESIGN.md).
 *
 *   {"id":"X","r":"a@b","s":"delivered"}   a recipient's final state
 *   {"id":"X","r":"a@b","a":3,"n":T}       a recipient's attempt count and next attempt (ms)
 *   {"id":"X","done":true,"seg":12}        the message left the spool; its record in segment 12 is dead
 *
 * A done line names the segment because it must outlive the id's record, not the id:
 * compaction keeps it exactly as long as that segment file exists. Rewrites (compaction)
 * are fsync'd and renamed into place, so a crash leaves the old journal or the new one.
 */
import { createReadStream } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RecipientState } from './types.js';
import { DirSyncer } from './dir-syncer.js';

/**
 * What the journal says of one message: its facts as pairs, in the order read, in one
 * small array (Maps per message held 382 bytes a message: 38 MB for 100 000 queued, all
 * of it alive through recovery's scan of the segments):
 *
 *   rcpt, state     a final state (a RecipientState)
 *   rcpt, packed    attempts and next attempt (packDeferral)
 *   null, seg       the message left the spool; its record in segment seg is dead
 *
 * Of two facts of one kind for one recipient the later wins, as the lines were appended.
 */
export type JournalFacts = (string | number | null)[];

/** Journal facts per message id, and how many bytes of the file they cover (whole lines). */
export interface JournalRead {
  readonly facts: Map<string, JournalFacts>;
  readonly bytes: number;
}

/** Bytes of the journal that are no fact: where, how many, and what they start with. */
export interface JournalGarbage {
  readonly offset: number;
  readonly length: number;
  /** The first bytes, non-printable ones as \xNN (for the log line). */
  readonly sample: string;
  /** The region is the end of the file: possibly an append cut short. */
  readonly atEnd?: boolean;
}

export type JournalLine = { id: string; r: string; s: RecipientState } | { id: string; r: string; a: number; n?: number } | { id: string; done: true; seg: number };

export class SegmentJournal {
  /** Bytes appended since the last rewrite, and the size of that rewrite. */
  grownBytes = 0;
  baseBytes = 0;
  private pending: string[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private paused = false;
  private readonly dirSync: DirSyncer;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    private readonly onFlushed: () => void,
  ) {
    this.dirSync = new DirSyncer(dirname(path));
  }

  static async open(path: string, onFlushed: () => void): Promise<SegmentJournal> {
    const fh = await open(path, 'a', 0o600);
    const j = new SegmentJournal(path, fh, onFlushed);
    j.grownBytes = (await fh.stat()).size;
    return j;
  }

  append(line: JournalLine): void {
    this.pending.push(`${JSON.stringify(line)}\n`);
    this.schedule();
  }

  /** One write for everything recorded in this turn of the event loop. */
  private schedule(): void {
    if (this.scheduled || this.paused || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Writes every pending line (one write per call); resolves when they reached the file. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.paused || this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.flushing = this.fh
      .write(text)
      .then(() => {
        this.grownBytes += Buffer.byteLength(text);
      })
      .catch(() => {
        // Not fsync'd by design; a failed append costs what a lost one does (a resend).
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
    this.onFlushed();
  }

  /**
   * Replays the file: the facts per message id, for recovery and compaction. A line that
   * is not a fact (a torn last line after a crash, a damaged block) is skipped and the
   * rest still counts; recovery passes `onGarbage` to hear of each. With `from`, adds the
   * lines after an earlier read to its facts (the file has only grown since).
   */
  async read(onGarbage?: (g: JournalGarbage) => void, from?: JournalRead): Promise<JournalRead> {
    const facts = from?.facts ?? new Map<string, JournalFacts>();
    const start = from?.bytes ?? 0;
    // latin1: one char per byte, so offsets are byte offsets; each line is then decoded
    // as the UTF-8 it was written in (SMTPUTF8 addresses).
    let offset = start;
    let rest = '';
    let pending = null as JournalGarbage | null;
    const take = (raw: string): void => {
      const at = offset;
      offset += raw.length + 1;
      if (addLine(facts, raw)) return;
      if (raw.length === 0) return;
      // Neighbouring bad lines are one damaged region, reported once.
      if (pending && pending.offset + pending.length === at) pending = { ...pending, length: offset - pending.offset };
      else {
        if (pending) onGarbage?.(pending);
        pending = { offset: at, length: raw.length + 1, sample: printable(raw) };
      }
    };
    for await (const chunk of createReadStream(this.path, { encoding: 'latin1', start, highWaterMark: 256 * 1024 })) {
      const text = rest + (chunk as string);
      let lineAt = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', lineAt)) {
        take(text.slice(lineAt, nl));
        lineAt = nl + 1;
      }
      rest = text.slice(lineAt);
    }
    // What follows the last newline is an append cut short (a crash) or damage; it is
    // read like any line, but not covered: a later read from `bytes` sees it again.
    const covered = offset;
    if (rest.length > 0) take(rest);
    if (pending) onGarbage?.({ ...pending, atEnd: pending.offset + pending.length >= offset });
    return { facts, bytes: covered };
  }

  /**
   * Replaces the journal with `build(facts)`. Appends wait meanwhile and land in the new
   * file after it, so no fact recorded during the rewrite is lost. `build` is consumed
   * lazily, between writes: it must decide each line from state that only moves forward
   * (a line it drops for a message removed meanwhile is covered by the removal's own line).
   * `known`, a read of this file since its last rewrite, spares reading it all again:
   * only what was appended after it is read (recovery's read, just before).
   */
  async rewrite(build: (facts: Map<string, JournalFacts>) => Iterable<JournalLine>, known?: JournalRead): Promise<void> {
    this.paused = true;
    try {
      while (this.flushing) await this.flushing;
      const { facts } = await this.read(undefined, known);
      const tmp = `${this.path}.tmp`;
      const out = await open(tmp, 'w', 0o600);
      let bytes = 0;
      let written = false;
      try {
        let chunk: string[] = [];
        for (const line of build(facts)) {
          chunk.push(`${JSON.stringify(line)}\n`);
          if (chunk.length < 4096) continue;
          bytes += await writeText(out, chunk);
          chunk = [];
        }
        bytes += await writeText(out, chunk);
        await out.sync();
        written = true;
      } finally {
        await out.close();
        // A rewrite that failed (a full disk) must not leave a half file taking space.
        if (!written) await unlink(tmp).catch(() => undefined);
      }
      await rename(tmp, this.path);
      await this.dirSync.sync();
      const old = this.fh;
      this.fh = await open(this.path, 'a', 0o600);
      await old.close().catch(() => undefined);
      this.baseBytes = bytes;
      this.grownBytes = 0;
    } finally {
      this.paused = false;
      this.schedule();
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }
}

/**
 * A deferred recipient's attempt count and next attempt time in one number, so that
 * recovery holds one small Map per message however many facts it has: the next attempt
 * in whole seconds (rounded up: never earlier than recorded; 0 for none) × 2^20 + the
 * attempts (capped at 2^20 − 1). Exact below 2^53, i.e. until the year 2242.
 */
const ATTEMPT_SPAN = 2 ** 20;

export function packDeferral(attempts: number, nextAt: number | undefined): number {
  const seconds = nextAt === undefined ? 0 : Math.ceil(nextAt / 1000);
  return seconds * ATTEMPT_SPAN + Math.min(Math.max(0, Math.floor(attempts)), ATTEMPT_SPAN - 1);
}

export function unpackDeferral(packed: number): { attempts: number; nextAt: number | undefined } {
  const seconds = Math.floor(packed / ATTEMPT_SPAN);
  return { attempts: packed - seconds * ATTEMPT_SPAN, nextAt: seconds === 0 ? undefined : seconds * 1000 };
}

export function doneLine(id: string, seg: number): JournalLine {
  return { id, done: true, seg };
}

/** The lines that say what `f` says, each recipient's kind of fact once. */
export function factLines(id: string, f: JournalFacts): JournalLine[] {
  const out: JournalLine[] = [];
  for (const [r, s] of doneStates(f) ?? []) out.push({ id, r, s });
  for (const [r, packed] of deferralsOf(f) ?? []) {
    const { attempts: a, nextAt: n } = unpackDeferral(packed);
    out.push(n === undefined ? { id, r, a } : { id, r, a, n });
  }
  return out;
}

/** Adds the fact on one raw (latin1) line to `facts`; false when the line is no fact. */
function addLine(facts: Map<string, JournalFacts>, raw: string): boolean {
  const line = parseLine(Buffer.from(raw, 'latin1').toString('utf8'));
  if (!line) return false;
  const f = facts.get(line.id);
  const key = 'seg' in line ? null : line.r;
  const value = 'seg' in line ? line.seg : 's' in line ? line.s : packDeferral(line.a, line.n);
  // A literal pair is allocated at its size; most messages never have a second fact.
  if (f) f.push(key, value);
  else facts.set(line.id, [key, value]);
  return true;
}

/** Segments named by the message's done lines; empty while it is still in the spool. */
export function removedFrom(f: JournalFacts | undefined): number[] {
  const segs: number[] = [];
  if (f) for (let i = 0; i < f.length; i += 2) if (f[i] === null) segs.push(f[i + 1] as number);
  return segs;
}

export function isRemoved(f: JournalFacts | undefined): boolean {
  if (f) for (let i = 0; i < f.length; i += 2) if (f[i] === null) return true;
  return false;
}

/** Final recipient states; null when there are none. */
export function doneStates(f: JournalFacts | undefined): Map<string, RecipientState> | null {
  return latest(f, (v): v is RecipientState => typeof v === 'string');
}

/** Deferred recipients' packed attempts and next attempt; null when there are none. */
export function deferralsOf(f: JournalFacts | undefined): Map<string, number> | null {
  return latest(f, (v): v is number => typeof v === 'number');
}

/** Each recipient's last fact of one kind. */
function latest<V extends string | number>(f: JournalFacts | undefined, kind: (v: string | number | null) => v is V): Map<string, V> | null {
  if (!f) return null;
  let out: Map<string, V> | null = null;
  for (let i = 0; i < f.length; i += 2) {
    const rcpt = f[i];
    const value = f[i + 1];
    if (typeof rcpt === 'string' && value !== undefined && kind(value)) (out ??= new Map<string, V>()).set(rcpt, value);
  }
  return out;
}

function printable(raw: string): string {
  return raw.slice(0, 48).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

async function writeText(fh: FileHandle, lines: string[]): Promise<number> {
  if (lines.length === 0) return 0;
  const buf = Buffer.from(lines.join(''));
  await fh.write(buf);
  return buf.length;
}

const STATES = new Set<string>(['delivered', 'bounced', 'expired', 'suppressed', 'cancelled', 'handed_off']);

function parseLine(text: string): JournalLine | null {
  if (!text) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o['id'] !== 'string') return null;
  const id = o['id'];
  if (o['done'] === true && typeof o['seg'] === 'number') return { id, done: true, seg: o['seg'] };
  if (typeof o['r'] !== 'string') return null;
  if (typeof o['s'] === 'string' && STATES.has(o['s'])) return { id, r: o['r'], s: o['s'] as RecipientState };
  if (typeof o['a'] === 'number') return typeof o['n'] === 'number' ? { id, r: o['r'], a: o['a'], n: o['n'] } : { id, r: o['r'], a: o['a'] };
  return null;
}
