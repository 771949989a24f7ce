/**
 * The scheduler: a waiting queue by next-attempt time (waiting-queue.ts), and ready
 * queues per (pool, site) served in priority order with ageing. It owns no protocol and
 * no policy: routes come from the router, sources from the picker, limits from shaping,
 * bytes from the spool.
 */
import type { Config } from '../config/schema.js';
import type { Envelope, RecoveredMessage, Spool } from '../spool/types.js';
import type { MxResolver } from '../delivery/mx-resolver.js';
import type { ProviderTable } from '../shaping/providers.js';
import type { Router } from '../routing/router.js';
import type { Clock } from '../state/types.js';
import { isPermanent, localResponse, type Response } from '../delivery/response.js';
import { ReadyQueue } from './ready-queue.js';
import { WaitingQueue } from './waiting-queue.js';
import type { FinalState, OutcomeKind, OutcomeSink, Parked, QueueItem } from './types.js';
import { domainOf } from '../routing/router.js';
import { ANY_LEASE, Contention } from '../routing/contention.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Runs one session against a ready queue; resolves when the session has ended. */
export type SessionRunner = (rq: ReadyQueue, sched: Scheduler) => Promise<void>;

export interface SchedulerDeps {
  readonly config: Config;
  readonly spool: Spool;
  readonly resolver: MxResolver;
  readonly providers: ProviderTable;
  readonly router: Router;
  readonly clock: Clock;
  readonly log: Logger;
  readonly onOutcome: OutcomeSink;
  readonly runSession: SessionRunner;
  /** Runs before a finished message leaves the spool (a DSN reads the original's headers). */
  readonly beforeRemove?: (envelope: Envelope) => Promise<void>;
  /** Shaping wiring: how many sessions a queue may run at once (default: its per-source limit). */
  readonly maxSessions?: (rq: ReadyQueue) => number;
}

export class Scheduler {
  /**
   * Queued messages by id: how many of their recipients still wait for a final state
   * (one per recipient of their items; nothing else, so that a queued message costs
   * little more than its id).
   */
  private readonly messages = new Map<string, number>();
  private readonly waiting: WaitingQueue;
  private readonly ready = new Map<string, ReadyQueue>();
  /** Recovered messages with nothing left to send, removed once recovery has ended. */
  private finishedAtRestore: string[] = [];
  /** Pool labels of parked items, one string per distinct name instead of one per item. */
  private readonly labels = new Map<string, string>();
  private pumpScheduled = false;
  private activeSessions = 0;
  private stopping = false;
  private readonly idleResolvers: (() => void)[] = [];
  // Shaping wiring: queues waiting for a lease another queue holds, the last time each
  // queue sent a message (ageing counts from there), and one timer for blocked queues.
  private readonly contention = new Contention<ReadyQueue>();
  private readonly servedAt = new WeakMap<ReadyQueue, number>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryTimerAt = Infinity;
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(private deps: SchedulerDeps) {
    this.waiting = new WaitingQueue({
      spool: deps.spool,
      clock: deps.clock,
      due: (p, envelope) => this.unpark(p, envelope),
      unreadable: (p, err) => this.unreadable(p, err),
    });
    this.armExpiry();
  }

  /**
   * Mail in a ready queue that cannot send (a paused source or pool, a provider
   * suspension, a rate or lease wait that keeps coming back) still ages: it expires at
   * max_age like deferred mail, instead of waiting for as long as the block lasts.
   * Checked every tenth of max_age, between once a second and once a minute.
   */
  private armExpiry(): void {
    const every = Math.min(60_000, Math.max(1_000, this.deps.config.queue.max_age / 10));
    this.expiryTimer = setTimeout(() => {
      this.expireReady();
      if (!this.stopping) this.armExpiry();
    }, every);
    this.expiryTimer.unref();
  }

  /**
   * A config reload: new routing, shaping and delivery parts take over for what is
   * routed from now on; queued mail and open sessions carry on untouched.
   */
  reconfigure(next: Partial<Pick<SchedulerDeps, 'config' | 'resolver' | 'providers' | 'router' | 'runSession' | 'maxSessions'>>): void {
    this.deps = { ...this.deps, ...next };
    this.pump();
  }

  /** Recipients queued per (pool, provider) and the oldest one's age, ready or waiting. */
  queueRows(): { pool: string; provider: string; depth: number; oldestSeconds: number }[] {
    const now = this.deps.clock.now();
    const rows = new Map<string, { pool: string; provider: string; depth: number; oldestSeconds: number }>();
    const add = (pool: string, provider: string, rcpts: number, receivedAt: number) => {
      const k = `${pool}\u0000${provider}`;
      const row = rows.get(k) ?? { pool, provider, depth: 0, oldestSeconds: 0 };
      row.depth += rcpts;
      row.oldestSeconds = Math.max(row.oldestSeconds, (now - receivedAt) / 1000);
      rows.set(k, row);
    };
    for (const rq of this.ready.values()) for (const item of rq.snapshot()) add(rq.pool, rq.provider.name, item.rcpts.length, item.envelope.receivedAt);
    for (const p of this.waiting.items()) add(p.pool, p.provider, p.rcpts.length, p.receivedAt);
    return [...rows.values()];
  }

  /** Queues a message just committed: it goes to routing at once. */
  add(envelope: Envelope): void {
    if (envelope.rcpts.length === 0) {
      void this.deps.spool.remove(envelope.id);
      return;
    }
    const now = this.deps.clock.now();
    this.messages.set(envelope.id, envelope.rcpts.length);
    for (const [domain, rcpts] of byDomain(envelope.rcpts)) {
      const item: QueueItem = { envelope, domain, rcpts, attempts: 0, nextAt: now, readyAt: now };
      if (this.stopping) this.park(item);
      else void this.route(item);
    }
  }

  /**
   * Queues a message found by spool recovery, parked (without its envelope) until
   * restored() is called: recovery hands over messages while it still runs. Deferred
   * recipients keep the next attempt time the journal recorded (a restart does not make
   * a whole backlog due at once); the rest are due when recovery ends.
   */
  restore(m: RecoveredMessage): void {
    this.waiting.hold();
    const pending = m.envelope.rcpts.filter((r) => !m.done.has(r));
    if (pending.length === 0) {
      this.finishedAtRestore.push(m.envelope.id);
      return;
    }
    this.messages.set(m.envelope.id, pending.length);
    const now = this.deps.clock.now();
    for (const [domain, rcpts] of byDomain(pending)) {
      const tries = Math.max(0, ...rcpts.map((r) => m.attempts.get(r) ?? 0));
      const due = Math.min(...rcpts.map((r) => m.retryAt?.get(r) ?? now));
      this.park({ envelope: m.envelope, domain, rcpts, attempts: tries, nextAt: Math.max(now, due), readyAt: now });
    }
  }

  /** Spool recovery has ended: recovered messages are due now. */
  restored(): void {
    for (const id of this.finishedAtRestore) void this.deps.spool.remove(id);
    this.finishedAtRestore = [];
    if (!this.stopping) this.waiting.resume();
  }

  get depth(): number {
    return this.messages.size;
  }

  queues(): readonly ReadyQueue[] {
    return [...this.ready.values()];
  }

  waitingItems(): readonly Parked[] {
    return this.waiting.items();
  }

  /** Every waiting item becomes due now (admin "flush"). */
  flush(): number {
    return this.waiting.flush();
  }

  /** Drops the envelope of an item that waits for a retry: the spool has it. */
  private park(item: QueueItem): void {
    if (item.rcpts.length === 0) return;
    const e = item.envelope;
    this.waiting.park({
      id: e.id,
      rcpts: item.rcpts,
      attempts: item.attempts,
      nextAt: item.nextAt,
      receivedAt: e.receivedAt,
      pool: item.lastPool ?? this.label(e.pool ?? e.class),
      provider: item.lastProvider ?? 'unrouted',
    });
  }

  /** A parked item is due and its envelope was read back: route it again. */
  private unpark(p: Parked, envelope: Envelope): void {
    const now = this.deps.clock.now();
    // The id string the spool's index holds already, not a second copy per message once parked again.
    const item: QueueItem = { envelope: { ...envelope, id: p.id }, domain: domainOf(p.rcpts[0] ?? ''), rcpts: [...p.rcpts], attempts: p.attempts, nextAt: p.nextAt, readyAt: now };
    if (this.stopping) this.park(item);
    else void this.route(item);
  }

  /** The envelope of a due item could not be read: it waits for another retry interval. */
  private unreadable(p: Parked, err: unknown): void {
    this.deps.log.error({ err, queue_id: p.id }, 'cannot read spooled message');
    if (this.stopping) return;
    p.nextAt = this.deps.clock.now() + this.retryDelay(p.attempts);
    this.waiting.park(p);
  }

  private retryDelay(attempts: number): number {
    const { retry } = this.deps.config.queue;
    return retry[Math.max(0, Math.min(attempts - 1, retry.length - 1))] as number;
  }

  private label(name: string): string {
    const known = this.labels.get(name);
    if (known !== undefined) return known;
    // Pool and class names are few; a plugin inventing one per message must not grow this without end.
    if (this.labels.size >= 1_000) this.labels.clear();
    this.labels.set(name, name);
    return name;
  }

  private async route(item: QueueItem): Promise<void> {
    let route;
    try {
      route = await this.deps.resolver.resolve(item.domain);
    } catch (err) {
      route = { kind: 'failed' as const, response: localResponse(451, '4.4.3', `DNS lookup failed: ${String(err)}`) };
    }
    if (route.kind === 'failed') {
      if (isPermanent(route.response)) for (const r of item.rcpts) this.final(item, r, 'bounced', route.response, null);
      else this.defer(item, item.rcpts, route.response, null);
      return;
    }
    const provider = this.deps.providers.limits(item.domain, route.mxNames, route.site);
    const decision = this.deps.router.decide({ envelope: item.envelope, domain: item.domain, provider: provider.name });
    // Priority is part of the key: a message of higher priority never queues behind lower ones in one FIFO.
    const key = `${decision.pool}\u0000${route.site}\u0000${decision.priority}`;
    let rq = this.ready.get(key);
    if (!rq) {
      rq = new ReadyQueue(key, decision.pool, route.site, route.hosts, provider, decision.priority);
      this.ready.set(key, rq);
    } else {
      rq.hosts = route.hosts;
      rq.provider = provider;
    }
    item.readyAt = this.deps.clock.now();
    item.lastPool = decision.pool;
    item.lastProvider = provider.name;
    rq.push(item);
    this.pump();
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
    const now = this.deps.clock.now();
    const ageing = Math.max(1, this.deps.config.queue.ageing);
    const candidates = [...this.ready.values()].filter((rq) => rq.length > 0 && rq.idle === 0);
    candidates.sort((a, b) => this.effective(b, now, ageing) - this.effective(a, now, ageing));
    let retryAt = Infinity;
    for (const rq of candidates) {
      if (this.activeSessions >= this.deps.config.delivery.max_connections) {
        // No session slot: queues without a session wait for any session to end (and may make one give way).
        if (rq.sessions === 0 && rq.blockedUntil <= now) this.contention.wait(rq, [ANY_LEASE]);
        continue;
      }
      if (rq.blockedUntil > now) {
        retryAt = Math.min(retryAt, rq.blockedUntil);
        continue;
      }
      // One new session per queue per pump: the next pump (after it connects) adds more if work remains.
      const cap = this.deps.maxSessions?.(rq) ?? rq.provider.maxConnections;
      if (rq.sessions < cap && rq.sessions < rq.length) {
        rq.sessions++;
        this.activeSessions++;
        this.contention.done(rq);
        void this.deps.runSession(rq, this).catch((err) => this.deps.log.error({ err, queue: rq.key }, 'session failed')).finally(() => {
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
    }
    this.armRetry(retryAt);
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
    const ageing = Math.max(1, this.deps.config.queue.ageing);
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

  /** Expires ready items that reached max_age; returns how many items expired. */
  expireReady(): number {
    const now = this.deps.clock.now();
    const maxAge = this.deps.config.queue.max_age;
    let n = 0;
    for (const rq of this.ready.values()) {
      const stale = rq.takeWhere((item) => now - item.envelope.receivedAt >= maxAge);
      if (stale.length === 0) continue;
      const blocked = rq.blockedUntil > now && rq.blockedReason !== '';
      const why = blocked ? rq.blockedReason : 'still waiting for a connection';
      const response = localResponse(451, '4.4.7', `waiting in the ready queue of pool ${rq.pool} for ${rq.provider.name}: ${why}`);
      for (const item of stale) for (const r of item.rcpts) this.final(item, r, 'expired', response, null);
      this.deps.log.warn({ event: 'queue_expired', pool: rq.pool, provider: rq.provider.name, site: rq.site, items: stale.length, reason: why }, 'mail reached max_age while its queue could not send');
      n += stale.length;
    }
    return n;
  }

  /** Records a delivery attempt's per-recipient responses and re-queues what was deferred. */
  settle(item: QueueItem, results: readonly { rcpt: string; response: Response; kind: 'delivered' | 'bounced' | 'deferred' }[], via: Via): void {
    const deferred: string[] = [];
    let last: Response | null = null;
    for (const r of results) {
      if (r.kind === 'deferred') {
        deferred.push(r.rcpt);
        last = r.response;
      } else this.final(item, r.rcpt, r.kind, r.response, via);
    }
    if (deferred.length > 0) this.defer(item, deferred, last as Response, via);
  }

  /** Defers recipients of an item with one response (connection failures, 4xx). */
  defer(item: QueueItem, rcpts: readonly string[], response: Response, via: Via | null, until: number | null = null): void {
    const now = this.deps.clock.now();
    const { max_age } = this.deps.config.queue;
    // Shaping wiring: with `until` the item waits for that time and no attempt is counted.
    if (until === null) item.attempts++;
    item.rcpts = [...rcpts];
    if (now - item.envelope.receivedAt >= max_age) {
      for (const r of rcpts) this.final(item, r, 'expired', response, via);
      return;
    }
    const next = until ?? now + this.retryDelay(item.attempts);
    item.nextAt = Math.min(next, item.envelope.receivedAt + max_age);
    // Its next attempt is a while away: the cached body would only crowd out fresh mail.
    this.deps.spool.forget?.(item.envelope.id);
    for (const r of rcpts) {
      this.deps.spool.record(item.envelope.id, r, { attempts: item.attempts, nextAt: item.nextAt });
      this.emit('deferred', item, r, response, via, item.nextAt);
    }
    if (this.stopping) return;
    this.park(item);
  }

  /**
   * Shaping wiring: every item of `rq` waits until `until` (each source is at today's
   * warm-up cap and no overflow can send): one deferred outcome per recipient, no
   * attempt counted, nothing polls meanwhile. Items past max_age expire instead.
   */
  postpone(rq: ReadyQueue, until: number, response: Response): number {
    const items = rq.drain();
    for (const item of items) this.defer(item, item.rcpts, response, null, until);
    return items.length;
  }

  /** Puts an item back at the front of its ready queue (a session stopped before sending it). */
  putBack(rq: ReadyQueue, item: QueueItem): void {
    rq.unshift(item);
    this.pump();
  }

  /** Each recipient of an item gets exactly one final state: the message leaves the spool after its last. */
  final(item: QueueItem, rcpt: string, state: FinalState, response: Response | null, via: Via | null): void {
    if (state !== 'delivered') item.attempts = Math.max(item.attempts, 1);
    this.emit(state, item, rcpt, response, via, null);
    const id = item.envelope.id;
    const pending = this.messages.get(id);
    if (pending === undefined) return;
    if (pending <= 1) {
      this.messages.delete(id);
      void Promise.resolve(this.deps.beforeRemove?.(item.envelope))
        .catch((err: unknown) => this.deps.log.error({ err, queue_id: id }, 'before-remove step failed'))
        .finally(() => this.deps.spool.remove(id));
    } else {
      this.messages.set(id, pending - 1);
      this.deps.spool.record(id, rcpt, state);
    }
  }

  private emit(kind: OutcomeKind, item: QueueItem, rcpt: string, response: Response | null, via: Via | null, nextAt: number | null): void {
    try {
      this.deps.onOutcome({
        kind,
        envelope: item.envelope,
        rcpt,
        response,
        attempt: item.attempts,
        pool: via?.pool ?? null,
        source: via?.source ?? null,
        sourceIp: via?.sourceIp ?? null,
        provider: via?.provider ?? null,
        mx: via?.mx ?? null,
        nextAt,
      });
    } catch (err) {
      this.deps.log.error({ err }, 'outcome handler threw');
    }
  }

  private settleIdle(): void {
    if (this.activeSessions === 0) for (const r of this.idleResolvers.splice(0)) r();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /** Stops starting sessions; resolves once running sessions ended or after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.waiting.hold();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const rq of this.ready.values()) rq.wakeAll();
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

export interface Via {
  readonly pool: string;
  readonly source: string;
  readonly sourceIp: string | null;
  readonly provider: string;
  readonly mx: string | null;
}

/** Recipients grouped by domain, in order: one queue item per group. */
function byDomain(rcpts: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const r of rcpts) {
    const d = domainOf(r);
    const list = groups.get(d);
    if (list) list.push(r);
    else groups.set(d, [r]);
  }
  return groups;
}
