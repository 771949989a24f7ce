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
import { createInterface } from 'node:readline';
import type { RecipientState } from './types.js';
import { DirSyncer } from './dir-syncer.js';

/** What the journal says of one message; each part is made on its first line (most messages have one kind). */
export interface JournalFacts {
  done?: Map<string, RecipientState>;
  /** Deferred recipients: attempt count and next attempt time, packed (packDeferral). */
  deferred?: Map<string, number>;
  /** Segments named by done lines: the message has left the spool. */
  removedFrom?: number[];
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
   * rest still counts; recovery passes `onGarbage` to hear of each.
   */
  async read(onGarbage?: (g: JournalGarbage) => void): Promise<Map<string, JournalFacts>> {
    const facts = new Map<string, JournalFacts>();
    const lines = createInterface({ input: createReadStream(this.path, { encoding: 'latin1' }), crlfDelay: Infinity });
    // latin1: one char per byte, so offsets are byte offsets; each line is then decoded
    // as the UTF-8 it was written in (SMTPUTF8 addresses).
    let offset = 0;
    let pending = null as JournalGarbage | null;
    for await (const raw of lines) {
      const at = offset;
      offset += raw.length + 1;
      const line = parseLine(Buffer.from(raw, 'latin1').toString('utf8'));
      if (!line) {
        if (raw.length === 0) continue;
        // Neighbouring bad lines are one damaged region, reported once.
        if (pending && pending.offset + pending.length === at) pending = { ...pending, length: offset - pending.offset };
        else {
          if (pending) onGarbage?.(pending);
          pending = { offset: at, length: raw.length + 1, sample: printable(raw) };
        }
        continue;
      }
      let f = facts.get(line.id);
      if (!f) facts.set(line.id, (f = {}));
      if ('seg' in line) (f.removedFrom ??= []).push(line.seg);
      else if ('s' in line) (f.done ??= new Map()).set(line.r, line.s);
      else (f.deferred ??= new Map()).set(line.r, packDeferral(line.a, line.n));
    }
    if (pending) onGarbage?.({ ...pending, atEnd: pending.offset + pending.length >= offset });
    return facts;
  }

  /**
   * Replaces the journal with `build(facts)`. Appends wait meanwhile and land in the new
   * file after it, so no fact recorded during the rewrite is lost. `build` is consumed
   * lazily, between writes: it must decide each line from state that only moves forward
   * (a line it drops for a message removed meanwhile is covered by the removal's own line).
   */
  async rewrite(build: (facts: Map<string, JournalFacts>) => Iterable<JournalLine>): Promise<void> {
    this.paused = true;
    try {
      while (this.flushing) await this.flushing;
      const facts = await this.read();
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

export function factLines(id: string, f: JournalFacts): JournalLine[] {
  const out: JournalLine[] = [];
  for (const [r, s] of f.done ?? []) out.push({ id, r, s });
  for (const [r, packed] of f.deferred ?? []) {
    const { attempts: a, nextAt: n } = unpackDeferral(packed);
    out.push(n === undefined ? { id, r, a } : { id, r, a, n });
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
