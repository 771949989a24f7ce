/**
 * What queue actions do to queued mail (issue 17), on the scheduler's own structures:
 * held mail (suspensions) waits here without its envelope; actions take matching items
 * out of the ready queues, the waiting queue and the held set. Items an action cannot
 * take at once (in flight in a session, or their envelope being read back) are marked,
 * and the mark applies when the scheduler next routes or defers them.
 */
import type { Envelope, Spool } from '../spool/types.js';
import type { Response } from '../delivery/response.js';
import type { Logger } from '../observe/logger.js';
import type { Clock } from '../state/types.js';
import type { ReadyQueue } from './ready-queue.js';
import type { WaitingQueue } from './waiting-queue.js';
import type { Entry, QueueIndex } from './index.js';
import type { QueueRules } from './rules.js';
import type { Parked, QueueItem } from './types.js';

/** How an action ends a recipient's stay. */
export interface Ending {
  readonly state: 'bounced' | 'cancelled';
  readonly response: Response;
}

export interface OpsDeps {
  readonly index: QueueIndex;
  readonly rules: QueueRules;
  readonly waiting: WaitingQueue;
  readonly spool: Pick<Spool, 'readEnvelope'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly readyQueues: () => Iterable<ReadyQueue>;
  readonly toParked: (item: QueueItem) => Parked;
  /** Routes an item again (a rebind, a resume of ready mail). */
  readonly route: (item: QueueItem) => void;
  readonly end: (item: QueueItem, rcpt: string, ending: Ending) => void;
  readonly expire: (item: QueueItem, rcpt: string, response: Response) => void;
}

const READ_CONCURRENCY = 64;

export class QueueOps {
  private readonly held = new Map<Entry, Parked>();
  /** Entries an action could not take at once: ended when next routed or deferred. */
  private readonly doomed = new Map<Entry, Ending>();

  constructor(private readonly deps: OpsDeps) {}

  /** Holds an item a suspension matches: it stays queued, unattempted, until released. */
  hold(item: QueueItem): void {
    const p = this.deps.toParked(item);
    if (!p.entry) return;
    this.held.set(p.entry, p);
    this.deps.index.update(p.entry, { state: 'held' });
  }

  /** An item is about to be routed or parked: an action that marked it ends it now. */
  claim(item: QueueItem): boolean {
    const ending = item.entry ? this.doomed.get(item.entry) : undefined;
    if (ending === undefined || !item.entry) return false;
    this.doomed.delete(item.entry);
    for (const r of [...item.rcpts]) this.deps.end(item, r, ending);
    return true;
  }

  /** Suspends queued matching mail now (later mail meets the rule when routed). */
  suspend(entries: readonly Entry[]): void {
    const set = new Set(entries);
    for (const p of this.deps.waiting.take((x) => x.entry !== undefined && set.has(x.entry))) this.holdParked(p);
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => i.entry !== undefined && set.has(i.entry))) this.hold(item);
  }

  /** Held mail no rule holds any more goes back to the waiting queue, due at its own time. */
  release(): number {
    let n = 0;
    for (const [entry, p] of [...this.held]) {
      if (this.deps.rules.suspension(entry)) continue;
      this.held.delete(entry);
      this.deps.index.update(entry, { state: entry.attempts > 0 ? 'deferred' : 'ready' });
      this.deps.waiting.park(p);
      n++;
    }
    return n;
  }

  /** Matching mail that waits for a retry is due now. */
  retry(entries: readonly Entry[]): void {
    const set = new Set(entries);
    const now = this.deps.clock.now();
    for (const p of this.deps.waiting.take((x) => x.entry !== undefined && set.has(x.entry) && x.entry.state !== 'scheduled')) {
      p.nextAt = now;
      this.deps.waiting.park(p);
    }
  }

  /** Ready matching mail is routed again (a rebind takes effect); waiting mail meets the rule when due. */
  reroute(entries: readonly Entry[]): void {
    const set = new Set(entries);
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => i.entry !== undefined && set.has(i.entry))) this.deps.route(item);
  }

  /** Bounces or cancels matching mail: each recipient gets its final state once. */
  async end(entries: readonly Entry[], ending: Ending): Promise<void> {
    const set = new Set(entries);
    for (const rq of this.deps.readyQueues()) for (const item of rq.takeWhere((i) => i.entry !== undefined && set.has(i.entry))) this.endItem(item, ending);
    const parked = this.deps.waiting.take((x) => x.entry !== undefined && set.has(x.entry));
    for (const e of entries) {
      const p = this.held.get(e);
      if (p) {
        this.held.delete(e);
        parked.push(p);
      }
    }
    const taken = new Set(parked.map((p) => p.entry));
    // In flight, or its envelope being read: ended when the scheduler next sees it.
    for (const e of entries) if (!taken.has(e) && e.rcpts.length > 0) this.doomed.set(e, ending);
    await this.withEnvelopes(parked, (item) => this.endItem(item, ending));
  }

  /** Held mail past max_age expires like any other (suspension does not stop the clock). */
  async expireHeld(now: number, maxAge: number, response: Response): Promise<number> {
    const stale: Parked[] = [];
    for (const p of this.held.values()) if (now - p.receivedAt >= maxAge) stale.push(p);
    for (const p of stale) if (p.entry) this.held.delete(p.entry);
    await this.withEnvelopes(stale, (item) => {
      for (const r of [...item.rcpts]) this.deps.expire(item, r, response);
    });
    return stale.length;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Forgets a mark once the entry has left the queue another way. */
  settled(entry: Entry): void {
    this.doomed.delete(entry);
  }

  private holdParked(p: Parked): void {
    if (!p.entry) return;
    this.held.set(p.entry, p);
    this.deps.index.update(p.entry, { state: 'held' });
  }

  private endItem(item: QueueItem, ending: Ending): void {
    for (const r of [...item.rcpts]) this.deps.end(item, r, ending);
  }

  /** Reads each parked item's envelope back (a few at a time) and hands over the item. */
  private async withEnvelopes(parked: readonly Parked[], fn: (item: QueueItem) => void): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < parked.length) {
        const p = parked[next++] as Parked;
        let envelope: Envelope;
        try {
          envelope = await this.deps.spool.readEnvelope(p.id);
        } catch (err) {
          // Left where it was: the action can be repeated once the spool reads it.
          this.deps.log.error({ err, queue_id: p.id }, 'queue action: cannot read spooled message; left queued');
          this.deps.waiting.park(p);
          continue;
        }
        const item: QueueItem = { envelope: { ...envelope, id: p.id }, domain: p.entry?.domain ?? '', rcpts: [...p.rcpts], attempts: p.attempts, nextAt: p.nextAt, readyAt: p.nextAt, ...(p.entry ? { entry: p.entry } : {}) };
        fn(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, parked.length) }, worker));
  }
}
