/**
 * What queue actions do to queued mail (issue 17), on the scheduler's own structures:
 * held mail (suspensions) waits here without its envelope; actions take matching items
 * out of the ready queues, the waiting queue and the held set. Items an action cannot
 * take at once (in flight in a session, or their envelope being read back) are marked,
 * and the mark applies when the scheduler next routes or defers them.
 */
import type { Envelope, Spool } from '../spool/types.js';
import { localResponse, type Response } from '../delivery/response.js';
import type { Logger } from '../observe/logger.js';
import type { Clock } from '../state/types.js';
import type { ReadyQueue } from './ready-queue.js';
import type { WaitingQueue } from './waiting-queue.js';
import type { Entry, QueueIndex } from './index.js';
import type { QueueRules } from './rules.js';
import type { DsnFailure, Parked, QueueItem } from './types.js';
import { endInTurns, workId, type EndingReport, type Work } from './queue-ending.js';

/** How an action ends a recipient's stay. */
export interface Ending {
  readonly state: 'bounced' | 'cancelled';
  readonly response: Response;
}

/** How a recipient named by a DSN found at recovery ended (Envelope.dsnFor). */
export interface RecoveredEnd {
  readonly state: 'bounced' | 'expired';
  readonly response: Response;
  readonly reason?: string;
}

/** What an operator's bounce gives each recipient (and its DSN says). */
export const ADMIN_BOUNCE: Ending = { state: 'bounced', response: localResponse(550, '5.0.0', 'bounced by an operator (reason: admin)') };

export interface OpsDeps {
  readonly index: QueueIndex;
  readonly rules: QueueRules;
  readonly waiting: WaitingQueue;
  readonly spool: Pick<Spool, 'readEnvelope'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly readyQueues: () => Iterable<ReadyQueue>;
  readonly toParked: (item: QueueItem) => Parked;
  /** Routes an item again (a rebind, a lift of ready mail). */
  readonly route: (item: QueueItem) => void;
  /**
   * Gives one recipient its final state; returns its message's DSN step and removal when
   * it was the last. `dsnSent`: its DSN is in the spool already (`dsnFirst`).
   */
  readonly finish: (item: QueueItem, rcpt: string, state: Ending['state'] | 'expired', response: Response, reason?: string, dsnSent?: boolean) => Promise<void> | undefined;
  /**
   * Commits the sender's DSN for these recipients before they are recorded bounced
   * (crash-safe bounce: queue-ending.ts); rejects when it cannot. Absent: the DSN follows the outcomes.
   */
  readonly dsnFirst?: (envelope: Envelope, ends: readonly DsnFailure[]) => Promise<unknown>;
  /** The scheduler is stopping: a bounce or cancel under way stops at its next turn. */
  readonly stopped: () => boolean;
}

export class QueueOps {
  /** Held mail: the index rows of items a hold rule or suspension keeps from the queues. */
  private readonly held = new Set<Parked>();
  /** Entries an action could not take at once: ended when next routed or deferred. */
  private readonly doomed = new Map<Entry, Ending>();
  /** Entries a bounce or cancel has taken and is ending, turn by turn. */
  private readonly ending = new Set<Entry>();
  /** Bounces, cancels and expiries of held mail under way. */
  private readonly runs = new Set<Promise<unknown>>();
  /** Ready queues that cannot send because their pool or every source is held. */
  private readonly heldQueues = new WeakSet<ReadyQueue>();

  constructor(private readonly deps: OpsDeps) {}

  /** Holds an item a hold rule matches: it stays queued, unattempted, until released. */
  hold(item: QueueItem): void {
    this.holdParked(this.deps.toParked(item));
  }

  /**
   * `rq` cannot send: its pool or every source is held. What waits in it shows as held;
   * mail routed to it meanwhile does from the next check (a few seconds).
   */
  queueHeld(rq: ReadyQueue): void {
    this.heldQueues.add(rq);
    for (const item of rq.snapshot()) if (item.entry.state === 'ready') this.deps.index.update(item.entry, { state: 'held' });
  }

  /** A session of `rq` takes an item: the hold is over, and what waits in it is ready. */
  queueFreed(rq: ReadyQueue): void {
    if (!this.heldQueues.delete(rq)) return;
    for (const item of rq.snapshot()) if (item.entry.state === 'held') this.deps.index.update(item.entry, { state: 'ready' });
  }

  /** An item is about to be routed or parked: an action that marked it ends it now. */
  claim(item: QueueItem): boolean {
    const ending = this.doomed.get(item.entry);
    if (ending === undefined) return false;
    this.doomed.delete(item.entry);
    this.endItem(item, ending);
    return true;
  }

  /** Holds queued matching mail now (later mail meets the rule when routed). */
  holdEntries(entries: readonly Entry[]): void {
    const set = new Set(entries);
    for (const p of this.deps.waiting.take((x) => set.has(x))) this.holdParked(p);
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => set.has(i.entry))) this.hold(item);
  }

  /** Held mail no rule holds any more goes back to the waiting queue, due at its own time. */
  release(): number {
    let n = 0;
    for (const p of [...this.held]) {
      if (this.deps.rules.holding(p)) continue;
      this.held.delete(p);
      this.deps.index.update(p, { state: p.attempts > 0 ? 'deferred' : 'ready' });
      this.deps.waiting.park(p);
      n++;
    }
    return n;
  }

  /** Matching mail that waits for a retry is due now. */
  retry(entries: readonly Entry[]): void {
    const set = new Set(entries);
    const now = this.deps.clock.now();
    for (const p of this.deps.waiting.take((x) => set.has(x) && x.state !== 'scheduled')) {
      p.nextAt = now;
      this.deps.waiting.park(p);
    }
  }

  /** Ready matching mail is routed again (a rebind takes effect); waiting mail meets the rule when due. */
  reroute(entries: readonly Entry[]): void {
    const set = new Set(entries);
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => set.has(i.entry))) this.deps.route(item);
  }

  /**
   * Bounces or cancels matching mail: each recipient gets its final state once. Matching
   * mail is taken out of the queues at once; its recipients are then ended in turns of
   * the event loop (queue-ending.ts), and the promise resolves when all are. Entries in
   * flight, or whose envelope is being read, are marked and ended when next seen; entries
   * another bounce or cancel is ending already are left to it.
   */
  end(entries: readonly Entry[], ending: Ending): Promise<EndingReport> {
    const set = new Set(entries.filter((e) => !this.ending.has(e)));
    const work: Work[] = [];
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => set.has(i.entry))) work.push({ kind: 'ready', item });
    for (const parked of this.deps.waiting.take((x) => set.has(x))) work.push({ kind: 'parked', parked });
    for (const e of set) if (this.held.delete(e)) work.push({ kind: 'parked', parked: e });
    // A message's items next to each other: they are ended in one turn, and its sender gets one DSN.
    work.sort((a, b) => compareIds(workId(a), workId(b)));
    const taken = new Set(work.map((w) => (w.kind === 'ready' ? w.item.entry : w.parked)));
    for (const e of taken) this.ending.add(e);
    // In flight, or its envelope being read: ended when the scheduler next sees it.
    for (const e of set) if (!taken.has(e) && e.rcpts.length > 0) this.doomed.set(e, ending);
    return this.runEnding(work, ending);
  }

  /**
   * At start, after recovery: recipients of message `id` are named by a DSN committed
   * before a crash let them be recorded (a remote 5xx, expiry, or an operator's bounce cut
   * short). They are recorded as the DSN says now, without a second DSN; the message's
   * other recipients stay queued.
   */
  bouncedBeforeCrash(id: string, ends: ReadonlyMap<string, RecoveredEnd>): Promise<EndingReport> {
    const rcpts = new Set(ends.keys());
    const work: Work[] = [];
    const named = (p: Parked) => p.id === id && p.rcpts.some((r) => rcpts.has(r));
    // The recipients to end, on an index row of their own when the row has others: those
    // stay where they were (waiting or held) on the first row.
    const split = (p: Parked): Parked => {
      const rest = p.rcpts.filter((r) => !rcpts.has(r));
      if (rest.length === 0) return p;
      const end = p.rcpts.filter((r) => rcpts.has(r));
      this.deps.index.update(p, { rcpts: rest });
      return this.deps.index.add({ ...p, rcpts: end });
    };
    for (const p of this.deps.waiting.take(named)) {
      const mine = split(p);
      if (mine !== p) this.deps.waiting.park(p);
      work.push({ kind: 'parked', parked: mine });
    }
    for (const p of [...this.held]) {
      if (!named(p)) continue;
      const mine = split(p);
      if (mine === p) this.held.delete(p);
      work.push({ kind: 'parked', parked: mine });
    }
    // Not marked as ending (no action runs before recovery is over): an index row keeps the
    // message's other recipients, and a later bounce must still match them.
    return this.run(work, (item, r) => {
      // Every recipient taken above is one of `ends`.
      const end = ends.get(r) as RecoveredEnd;
      return this.deps.finish(item, r, end.state, end.response, end.reason, true);
    });
  }

  /** Held mail past max_age expires like any other (suspension does not stop the clock). */
  async expireHeld(now: number, maxAge: number, response: Response): Promise<number> {
    const stale: Work[] = [];
    for (const p of this.held.values()) if (now - p.receivedAt >= maxAge) stale.push({ kind: 'parked', parked: p });
    for (const w of stale) if (w.kind === 'parked') this.held.delete(w.parked);
    // As every expiry: each message's DSN is committed before its recipients are recorded.
    const dsnFirst = this.deps.dsnFirst;
    if (!dsnFirst) {
      await this.run(stale, (item, r) => this.deps.finish(item, r, 'expired', response));
      return stale.length;
    }
    const before = this.dsnBefore(dsnFirst, { state: 'expired', response }, 'expiry of held mail: cannot commit the DSN; recipients left queued (they expire at their next attempt)');
    await this.run(stale, (item, r) => this.deps.finish(item, r, 'expired', response, undefined, true), before);
    return stale.length;
  }

  /** Resolves once no bounce, cancel or expiry of held mail is under way (the scheduler stops). */
  async idle(): Promise<void> {
    while (this.runs.size > 0) await Promise.allSettled(this.runs);
  }

  /** True while a bounce or cancel is ending this entry. */
  isEnding(e: Entry): boolean {
    return this.ending.has(e);
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Forgets a mark once the entry has left the queue another way. */
  settled(entry: Entry): void {
    this.doomed.delete(entry);
    this.ending.delete(entry);
  }

  private holdParked(p: Parked): void {
    this.held.add(p);
    this.deps.index.update(p, { state: 'held' });
  }

  private endItem(item: QueueItem, ending: Ending): void {
    void this.runEnding([{ kind: 'ready', item }], ending);
  }

  /** A bounce or cancel's run: a bounce commits each message's DSN before it records its recipients. */
  private runEnding(work: readonly Work[], ending: Ending): Promise<EndingReport> {
    const dsnFirst = ending.state === 'bounced' ? this.deps.dsnFirst : undefined;
    if (!dsnFirst) return this.run(work, (item, r) => this.deps.finish(item, r, ending.state, ending.response, 'admin'));
    const before = this.dsnBefore(dsnFirst, { state: 'bounced', response: ending.response, reason: 'admin' }, 'queue bounce: cannot commit the DSN; recipients left queued (repeat the bounce)');
    return this.run(work, (item, r) => this.deps.finish(item, r, ending.state, ending.response, 'admin', true), before);
  }

  /**
   * The step before a message's recipients are ended alike (`end`): their DSN, committed
   * first. When it cannot be, `failure` is logged and the run leaves them queued.
   */
  private dsnBefore(dsnFirst: NonNullable<OpsDeps['dsnFirst']>, end: RecoveredEnd, failure: string): (items: readonly QueueItem[]) => Promise<void> {
    return async (items) => {
      const first = items[0] as QueueItem;
      try {
        await dsnFirst(first.envelope, items.flatMap((i) => i.rcpts.map((rcpt) => ({ rcpt, mx: null, ...end }))));
      } catch (err) {
        this.deps.log.error({ err, queue_id: first.envelope.id }, failure);
        throw err;
      }
    };
  }

  private run(work: readonly Work[], finish: (item: QueueItem, rcpt: string) => Promise<void> | undefined, before?: (items: readonly QueueItem[]) => Promise<void>): Promise<EndingReport> {
    const run = endInTurns(work, {
      readEnvelope: (id) => this.deps.spool.readEnvelope(id),
      end: finish,
      ...(before ? { before } : {}),
      unreadable: (p, err) => {
        // Left where it was: the action can be repeated once the spool reads it.
        this.deps.log.error({ err, queue_id: p.id }, 'queue action: cannot read spooled message; left queued');
        this.putBack({ kind: 'parked', parked: p });
      },
      stopped: this.deps.stopped,
      putBack: (w) => this.putBack(w),
    });
    this.runs.add(run);
    return run.finally(() => this.runs.delete(run));
  }

  /** Mail a run did not end goes back to waiting, due at its own time. */
  private putBack(w: Work): void {
    const p = w.kind === 'ready' ? this.deps.toParked(w.item) : w.parked;
    this.ending.delete(p);
    this.deps.waiting.park(p);
  }
}
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
