/**
 * Messages waiting for their next attempt, kept compact (DESIGN.md: the spool holds the
 * message, the queue only what it needs to schedule it): a deferred item is parked
 * without its envelope, which is read back from the spool when the item is due. At most
 * LOAD_CONCURRENCY envelopes are read at once, so a restart or a flush that makes
 * 100 000 messages due at one moment does not bring 100 000 envelopes into memory at once.
 */
import type { Clock } from '../state/types.js';
import type { Envelope, Spool } from '../spool/types.js';
import { MinHeap } from './heap.js';
import type { Parked } from './types.js';

const LOAD_CONCURRENCY = 64;

export interface WaitingDeps {
  readonly spool: Pick<Spool, 'readEnvelope'>;
  readonly clock: Clock;
  /** A due item's envelope was read: it goes on to routing. */
  readonly due: (parked: Parked, envelope: Envelope) => void;
  /** A due item's envelope could not be read. */
  readonly unreadable: (parked: Parked, err: unknown) => void;
}

export class WaitingQueue {
  private readonly heap = new MinHeap<Parked>((p) => p.nextAt);
  private loading = 0;
  private held = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  constructor(private readonly deps: WaitingDeps) {}

  get size(): number {
    return this.heap.size;
  }

  items(): readonly Parked[] {
    return this.heap.toArray();
  }

  park(parked: Parked): void {
    this.heap.push(parked);
    this.release();
  }

  /** Nothing is released until resume() (spool recovery, shutdown). */
  hold(): void {
    this.held = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  resume(): void {
    this.held = false;
    this.release();
  }

  /** Every item becomes due now (admin "flush"); returns how many. */
  flush(): number {
    const items = this.heap.filter(() => false);
    const now = this.deps.clock.now();
    for (const p of items) {
      p.nextAt = now;
      this.heap.push(p);
    }
    this.release();
    return items.length;
  }

  /** Takes out every item `pred` picks (queue actions); the rest keep their times. */
  take(pred: (p: Parked) => boolean): Parked[] {
    return this.heap.filter((p) => !pred(p));
  }

  /** Starts reading the envelopes of due items; each read that ends starts the next. */
  release(): void {
    if (this.held) return;
    const now = this.deps.clock.now();
    while (this.loading < LOAD_CONCURRENCY && (this.heap.peek()?.nextAt ?? Infinity) <= now) this.load(this.heap.pop() as Parked);
    this.arm();
  }

  private load(parked: Parked): void {
    this.loading++;
    this.deps.spool
      .readEnvelope(parked.id)
      .then(
        (envelope) => this.deps.due(parked, envelope),
        (err: unknown) => this.deps.unreadable(parked, err),
      )
      .finally(() => {
        this.loading--;
        this.release();
      });
  }

  /** One timer for the earliest item not yet due; due ones wait for a read to end instead. */
  private arm(): void {
    const next = this.heap.peek()?.nextAt ?? Infinity;
    if (this.held || next === Infinity || next >= this.timerAt || next <= this.deps.clock.now()) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.release();
    }, next - this.deps.clock.now());
  }
}
