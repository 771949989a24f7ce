/**
 * The scheduler: a waiting heap by next-attempt time, and ready queues per (pool, site)
 * served in priority order with ageing. It owns no protocol and no policy: routes come
 * from the router, sources from the picker, limits from shaping, bytes from the spool.
 */
import type { Config } from '../config/schema.js';
import type { Envelope, RecipientState, Spool } from '../spool/types.js';
import type { MxResolver } from '../delivery/mx-resolver.js';
import type { ProviderTable } from '../shaping/providers.js';
import type { Router } from '../routing/router.js';
import type { Clock } from '../state/types.js';
import { localResponse, type Response } from '../delivery/response.js';
import { MinHeap } from './heap.js';
import { ReadyQueue } from './ready-queue.js';
import type { OutcomeKind, OutcomeSink, QueueItem } from './types.js';
import { domainOf } from '../routing/router.js';

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
}

interface Tracked {
  readonly envelope: Envelope;
  readonly pending: Set<string>;
}

export class Scheduler {
  private readonly messages = new Map<string, Tracked>();
  private readonly waiting = new MinHeap<QueueItem>((i) => i.nextAt);
  private readonly ready = new Map<string, ReadyQueue>();
  private routing = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private pumpScheduled = false;
  private activeSessions = 0;
  private stopping = false;
  private readonly idleResolvers: (() => void)[] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  /** Queues a committed message; `done` and `attempts` come from a recovered journal. */
  add(envelope: Envelope, done?: ReadonlyMap<string, RecipientState>, attempts?: ReadonlyMap<string, number>): void {
    const pending = envelope.rcpts.filter((r) => !done?.has(r));
    if (pending.length === 0) {
      void this.deps.spool.remove(envelope.id);
      return;
    }
    this.messages.set(envelope.id, { envelope, pending: new Set(pending) });
    const byDomain = new Map<string, string[]>();
    for (const r of pending) {
      const d = domainOf(r);
      const list = byDomain.get(d);
      if (list) list.push(r);
      else byDomain.set(d, [r]);
    }
    const now = this.deps.clock.now();
    for (const [domain, rcpts] of byDomain) {
      const tries = Math.max(0, ...rcpts.map((r) => attempts?.get(r) ?? 0));
      this.waiting.push({ envelope, domain, rcpts, attempts: tries, nextAt: now, readyAt: now, lastResponse: null });
    }
    this.promote();
  }

  get depth(): number {
    return this.messages.size;
  }

  queues(): readonly ReadyQueue[] {
    return [...this.ready.values()];
  }

  waitingItems(): readonly QueueItem[] {
    return this.waiting.toArray();
  }

  /** Every waiting item becomes due now (admin "flush"). */
  flush(): number {
    const items = this.waiting.filter(() => false);
    const now = this.deps.clock.now();
    for (const i of items) {
      i.nextAt = now;
      this.waiting.push(i);
    }
    this.promote();
    return items.length;
  }

  /** Moves due items to their ready queues and arms the timer for the next one. */
  promote(): void {
    if (this.stopping) return;
    const now = this.deps.clock.now();
    while ((this.waiting.peek()?.nextAt ?? Infinity) <= now) {
      const item = this.waiting.pop() as QueueItem;
      this.routing++;
      void this.route(item).finally(() => this.routing--);
    }
    this.arm();
  }

  private arm(): void {
    const next = this.waiting.peek()?.nextAt ?? Infinity;
    if (next === Infinity || next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.promote();
    }, Math.max(0, next - this.deps.clock.now()));
  }

  private async route(item: QueueItem): Promise<void> {
    let route;
    try {
      route = await this.deps.resolver.resolve(item.domain);
    } catch (err) {
      route = { kind: 'failed' as const, response: localResponse(451, '4.4.3', `DNS lookup failed: ${String(err)}`) };
    }
    if (route.kind === 'failed') {
      if (route.response.code >= 500) for (const r of item.rcpts) this.final(item, r, 'bounced', route.response, null);
      else this.defer(item, item.rcpts, route.response, null);
      return;
    }
    const provider = this.deps.providers.limits(item.domain, route.mxNames, route.site);
    const decision = this.deps.router.decide({ envelope: item.envelope, domain: item.domain, provider: provider.name });
    const key = `${decision.pool}\u0000${route.site}`;
    let rq = this.ready.get(key);
    if (!rq) {
      rq = new ReadyQueue(key, decision.pool, route.site, route.hosts, provider, decision.priority);
      this.ready.set(key, rq);
    } else {
      rq.hosts = route.hosts;
      rq.provider = provider;
    }
    item.readyAt = this.deps.clock.now();
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
    candidates.sort((a, b) => effective(b, now, ageing) - effective(a, now, ageing));
    let retryAt = Infinity;
    for (const rq of candidates) {
      if (this.activeSessions >= this.deps.config.delivery.max_connections) break;
      if (rq.blockedUntil > now) {
        retryAt = Math.min(retryAt, rq.blockedUntil);
        continue;
      }
      // One new session per queue per pump: the next pump (after it connects) adds more if work remains.
      if (rq.sessions < rq.provider.maxConnections && rq.sessions < rq.length) {
        rq.sessions++;
        this.activeSessions++;
        void this.deps.runSession(rq, this).catch((err) => this.deps.log.error({ err, queue: rq.key }, 'session failed')).finally(() => {
          rq.sessions--;
          this.activeSessions--;
          if (rq.sessions === 0 && rq.length === 0) this.ready.delete(rq.key);
          this.settleIdle();
          this.pump();
        });
      }
    }
    if (retryAt !== Infinity) setTimeout(() => this.pump(), Math.max(10, retryAt - now)).unref();
  }

  /** A session could not start: nothing usable until `retryMs` passes or a lease frees. */
  block(rq: ReadyQueue, retryMs: number, reason: string): void {
    rq.blockedUntil = this.deps.clock.now() + retryMs;
    rq.blockedReason = reason;
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
  defer(item: QueueItem, rcpts: readonly string[], response: Response, via: Via | null): void {
    const now = this.deps.clock.now();
    const { retry, max_age } = this.deps.config.queue;
    item.attempts++;
    item.rcpts = [...rcpts];
    item.lastResponse = response;
    if (now - item.envelope.receivedAt >= max_age) {
      for (const r of rcpts) this.final(item, r, 'expired', response, via);
      return;
    }
    const delay = retry[Math.min(item.attempts - 1, retry.length - 1)] as number;
    item.nextAt = Math.min(now + delay, item.envelope.receivedAt + max_age);
    for (const r of rcpts) {
      this.deps.spool.record(item.envelope.id, r, { attempts: item.attempts });
      this.emit('deferred', item, r, response, via, item.nextAt);
    }
    if (this.stopping) return;
    this.waiting.push(item);
    this.arm();
  }

  /** Puts an item back at the front of its ready queue (a session stopped before sending it). */
  putBack(rq: ReadyQueue, item: QueueItem): void {
    rq.unshift(item);
    this.pump();
  }

  final(item: QueueItem, rcpt: string, state: RecipientState, response: Response | null, via: Via | null): void {
    if (state !== 'delivered') item.attempts = Math.max(item.attempts, 1);
    this.emit(state, item, rcpt, response, via, null);
    const t = this.messages.get(item.envelope.id);
    if (!t) return;
    t.pending.delete(rcpt);
    if (t.pending.size === 0) {
      this.messages.delete(item.envelope.id);
      const id = item.envelope.id;
      void Promise.resolve(this.deps.beforeRemove?.(item.envelope))
        .catch((err: unknown) => this.deps.log.error({ err, queue_id: id }, 'before-remove step failed'))
        .finally(() => this.deps.spool.remove(id));
    } else this.deps.spool.record(item.envelope.id, rcpt, state);
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
    if (this.timer) clearTimeout(this.timer);
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

function effective(rq: ReadyQueue, now: number, ageingMs: number): number {
  const oldest = rq.oldestReadyAt() ?? now;
  return rq.priority + Math.floor((now - oldest) / ageingMs);
}
