/**
 * The ready queue of one (pool, site): items due now that can share a connection
 * (same MX hosts) and one set of limits. Sessions take items from it; a session that
 * runs out waits here (idle) for `idle_timeout` before it quits.
 */
import type { MxHost } from '../delivery/mx-resolver.js';
import type { ProviderLimits } from '../shaping/providers.js';
import type { QueueItem } from './types.js';

export class ReadyQueue {
  private items: QueueItem[] = [];
  private head = 0;
  private readonly waiters: ((item: QueueItem | null) => void)[] = [];
  /** Sessions open or being opened. */
  sessions = 0;
  /** Set while no source can take a connection: no new session before this time. */
  blockedUntil = 0;
  blockedReason = '';
  /** Backoff after a busy (4xx) greeting; doubles while they repeat, reset by a good connect. */
  greetingBackoffMs = 0;
  /** Called for each item a session takes (the queue index marks it in flight). */
  onTake: ((item: QueueItem) => void) | null = null;

  constructor(
    readonly key: string,
    readonly pool: string,
    readonly site: string,
    public hosts: readonly MxHost[],
    public provider: ProviderLimits,
    public priority: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get idle(): number {
    return this.waiters.length;
  }

  oldestReadyAt(): number | null {
    return this.items[this.head]?.readyAt ?? null;
  }

  push(item: QueueItem): void {
    const w = this.waiters.shift();
    if (w) {
      this.onTake?.(item);
      w(item);
    } else this.items.push(item);
  }

  unshift(item: QueueItem): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  shift(): QueueItem | null {
    if (this.head >= this.items.length) return null;
    const item = this.items[this.head] as QueueItem;
    this.items[this.head++] = undefined as unknown as QueueItem;
    this.onTake?.(item);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The next item, waiting up to `ms` for one to arrive; null when none came. */
  next(ms: number): Promise<QueueItem | null> {
    const now = this.shift();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      }, ms);
      const done = (item: QueueItem | null) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(done);
    });
  }

  /** Wakes every idle session with "no more" (shutdown, reload). */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w(null);
  }

  drain(): QueueItem[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  /** Takes out every item `pred` picks, keeping the others in order. */
  takeWhere(pred: (item: QueueItem) => boolean): QueueItem[] {
    const taken: QueueItem[] = [];
    const kept: QueueItem[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as QueueItem;
      (pred(item) ? taken : kept).push(item);
    }
    if (taken.length > 0) {
      this.items = kept;
      this.head = 0;
    }
    return taken;
  }

  snapshot(): readonly QueueItem[] {
    return this.items.slice(this.head);
  }
}
