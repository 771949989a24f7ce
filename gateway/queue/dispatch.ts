/**
 * Session starting for the ready queues of one node: which queue gets a new session
 * next (priority plus ageing), within the node's session slots and each queue's cap;
 * queues blocked for a while (no usable source, a rate limit, a lease another queue
 * holds) and the one timer that retries them; and the contention that makes a session
 * give way to a more urgent queue waiting for a lease it holds. It knows nothing of
 * messages, retries or outcomes: the scheduler routes items into the queues and runs
 * each session through `run`.
 */
import type { Config } from '../config/schema.js';
import type { MxHost } from '../delivery/mx-resolver.js';
import type { ProviderLimits } from '../shaping/providers.js';
import type { Clock } from '../state/types.js';
import { ANY_LEASE, Contention } from './contention.js';
import { ReadyQueue } from './ready-queue.js';
import type { Logger } from '../observe/logger.js';

export interface DispatchDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** Read at each use: a config reload applies from the next pump. */
  readonly config: () => Config;
  /** How many sessions `rq` may run at once. */
  readonly maxSessions: (rq: ReadyQueue) => number;
  /** Runs one session against `rq`; resolves when the session has ended. */
  readonly run: (rq: ReadyQueue) => Promise<void>;
}

export class Dispatcher {
  private readonly ready = new Map<string, ReadyQueue>();
  private pumpScheduled = false;
  private activeSessions = 0;
  private stopping = false;
  private readonly idleResolvers: (() => void)[] = [];
  // Queues waiting for a lease another queue holds, the last time each queue sent a
  // message (ageing counts from there), and one timer for blocked queues.
  private readonly contention = new Contention<ReadyQueue>();
  private readonly servedAt = new WeakMap<ReadyQueue, number>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryTimerAt = Infinity;

  constructor(private readonly deps: DispatchDeps) {}

  /** The live ready queues (a queue is dropped once it has no item and no session). */
  queues(): IterableIterator<ReadyQueue> {
    return this.ready.values();
  }

  /** The ready queue for `key`, made on first use; a later route refreshes its MX hosts and limits. */
  queueFor(key: string, pool: string, site: string, hosts: readonly MxHost[], provider: ProviderLimits, priority: number): ReadyQueue {
    let rq = this.ready.get(key);
    if (!rq) {
      rq = new ReadyQueue(key, pool, site, hosts, provider, priority);
      this.ready.set(key, rq);
    } else {
      rq.hosts = hosts;
      rq.provider = provider;
    }
    return rq;
  }

  /** Starts sessions where work waits, highest effective priority first. */
  pump(): void {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.startSessions();
    });
  }

  private startSessions(): void {
    const config = this.deps.config();
    const now = this.deps.clock.now();
    const ageing = Math.max(1, config.queue.ageing);
    const candidates = [...this.ready.values()].filter((rq) => rq.length > 0 && rq.idle === 0);
    candidates.sort((a, b) => this.effective(b, now, ageing) - this.effective(a, now, ageing));
    let retryAt = Infinity;
    for (const rq of candidates) {
      if (this.activeSessions >= config.delivery.max_connections) {
        // No session slot: queues without a session wait for any session to end (and may make one give way).
        if (rq.sessions === 0 && rq.blockedUntil <= now) this.contention.wait(rq, [ANY_LEASE]);
        continue;
      }
      if (rq.blockedUntil > now) {
        retryAt = Math.min(retryAt, rq.blockedUntil);
        continue;
      }
      // One new session per queue per pump: the next pump (after it connects) adds more if work remains.
      if (rq.sessions < this.deps.maxSessions(rq) && rq.sessions < rq.length) this.startSession(rq);
    }
    this.armRetry(retryAt);
  }

  private startSession(rq: ReadyQueue): void {
    rq.sessions++;
    this.activeSessions++;
    this.contention.done(rq);
    void this.deps.run(rq).catch((err: unknown) => this.deps.log.error({ err, queue: rq.key }, 'session failed')).finally(() => {
      rq.sessions--;
      this.activeSessions--;
      if (rq.sessions === 0 && rq.length === 0) {
        this.ready.delete(rq.key);
        this.contention.done(rq);
      }
      this.settleIdle();
      this.pump();
    });
  }

  /** One timer for the earliest blocked queue (instead of one per pump). */
  private armRetry(at: number): void {
    if (at === Infinity || at >= this.retryTimerAt || this.stopping) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimerAt = at;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryTimerAt = Infinity;
      this.pump();
    }, Math.max(10, at - this.deps.clock.now()));
    this.retryTimer.unref();
  }

  /**
   * A session could not start: nothing usable until `retryMs` passes, or (when
   * `waitingFor` names lease keys) until a session holding one of them releases it.
   */
  block(rq: ReadyQueue, retryMs: number, reason: string, waitingFor: readonly string[] = []): void {
    rq.blockedUntil = this.deps.clock.now() + retryMs;
    rq.blockedReason = reason;
    if (waitingFor.length > 0) this.contention.wait(rq, waitingFor);
    else this.contention.done(rq);
    this.armRetry(rq.blockedUntil);
  }

  /** A session released its lease on `keys`: queues waiting for one of them try again now. */
  released(keys: readonly string[]): void {
    const woken = this.contention.released(keys);
    for (const rq of woken) rq.blockedUntil = 0;
    if (woken.length > 0) this.pump();
  }

  /** A session of `rq` sent a message: ageing of `rq` counts from now. */
  served(rq: ReadyQueue): void {
    this.servedAt.set(rq, this.deps.clock.now());
  }

  /**
   * Whether a session of `rq` holding leases on `keys` should end before its next
   * message, so that a more urgent queue waiting for one of those leases gets it.
   */
  shouldYield(rq: ReadyQueue, keys: readonly string[]): boolean {
    if (this.contention.size === 0) return false;
    const now = this.deps.clock.now();
    const ageing = Math.max(1, this.deps.config().queue.ageing);
    return this.contention.yieldTo(rq, keys, (q) => (q.length > 0 ? this.effective(q, now, ageing) : -Infinity), now) !== null;
  }

  /**
   * Priority plus one per `ageing` a queue has gone unserved: the time since its last
   * message went out (or its oldest item arrived). A backlog that is being sent does
   * not age, so it never outranks fresh mail of a higher priority; a queue that gets
   * nothing rises until it is served.
   */
  private effective(rq: ReadyQueue, now: number, ageingMs: number): number {
    const oldest = rq.oldestReadyAt() ?? now;
    const since = Math.max(oldest, this.servedAt.get(rq) ?? 0);
    return rq.priority + Math.floor((now - since) / ageingMs);
  }

  private settleIdle(): void {
    if (this.activeSessions === 0) for (const r of this.idleResolvers.splice(0)) r();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** Starts no more sessions, and wakes idle ones so that they end. */
  halt(): void {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const rq of this.ready.values()) rq.wakeAll();
  }

  /** Resolves once no session runs, or after `timeoutMs`. */
  async ended(timeoutMs: number): Promise<void> {
    if (this.activeSessions === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.idleResolvers.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
