/**
 * The scheduler: a waiting queue by next-attempt time (waiting-queue.ts), and ready
 * queues per (pool, site) served in priority order with ageing (dispatch.ts, which
 * starts their sessions, blocks and retries them, and makes a session give way to a
 * more urgent queue). The scheduler routes each message's items into those queues and
 * decides what happens after an attempt: a final state (ledger.ts counts them and
 * removes a finished message from the spool), a retry after a delay, or expiry at
 * max_age, also for mail stuck in a ready queue that cannot send. It owns no protocol
 * and no policy: routes come from the router, sources from the picker, limits from
 * shaping, bytes from the spool.
 */
import type { Config } from '../config/schema.js';
import type { DsnFor, Envelope, RecoveredMessage, Spool } from '../spool/types.js';
import type { MxResolver } from '../delivery/mx-resolver.js';
import type { ProviderLimits, ProviderTable } from '../shaping/providers.js';
import type { Router } from '../routing/router.js';
import type { Clock } from '../state/types.js';
import { isPermanent, localResponse, type Response } from '../delivery/response.js';
import type { ReadyQueue } from './ready-queue.js';
import { WaitingQueue } from './waiting-queue.js';
import { Dispatcher } from './dispatch.js';
import { Ledger } from './ledger.js';
import type { Logger } from '../observe/logger.js';
import { owesDsn, type DsnFailure, type FinalState, type HandoffPort, type OutcomeSink, type Parked, type QueueItem, type Via } from './types.js';
import { domainOf } from '../routing/router.js';
import { QueueIndex, type Entry } from './index.js';
import { Interner } from './interner.js';
import { QueueRules } from './rules.js';
import { ADMIN_BOUNCE, QueueOps, type RecoveredEnd } from './queue-ops.js';
import { formatResponse } from '../delivery/response.js';

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
  /**
   * Commits the sender's DSN for recipients that bounced or expired before they are
   * recorded (a remote 5xx, expiry, an operator's bounce: queue-ending.ts), so that a
   * crash between the two neither loses the DSN nor sends it twice. Absent: the DSN is
   * queued after the outcomes (beforeRemove).
   */
  readonly dsnFirst?: (envelope: Envelope, ends: readonly DsnFailure[]) => Promise<unknown>;
  /** Shaping wiring: how many sessions a queue may run at once (default: its per-source limit). */
  readonly maxSessions?: (rq: ReadyQueue) => number;
  /** Where queue rules (suspensions, rebinds) are kept across restarts; absent: in memory only. */
  readonly rulesFile?: string;
  /** [cluster] with a cluster listener: items whose pool sends from a peer go there. */
  readonly handoff?: HandoffPort<ProviderLimits>;
}

/** An item a peer did not take is routed again after this long. */
const HANDOFF_RETRY_MS = 2_000;

export class Scheduler {
  private readonly ledger: Ledger;
  private readonly waiting: WaitingQueue;
  private readonly dispatch: Dispatcher;
  /** Recovered messages with nothing left to send, removed once recovery has ended. */
  private finishedAtRestore: string[] = [];
  /** Recipients that bounced or expired this turn, by message, waiting for their DSN (final()). */
  private readonly dsnBatches = new Map<string, DsnWaiting[]>();
  /** DSNs being committed before their recipients are recorded. */
  private readonly dsnRuns = new Set<Promise<void>>();
  /** Pool labels of parked items, one string per distinct name instead of one per item (pool and class names are few). */
  private readonly labels = new Interner(1_000);
  private expiryTimer: NodeJS.Timeout | null = null;
  /** The live index of what is queued here, by group (issue 17). */
  readonly index = new QueueIndex();
  readonly rules: QueueRules;
  readonly ops: QueueOps;

  constructor(private deps: SchedulerDeps) {
    this.rules = new QueueRules(deps.rulesFile ?? null, () => deps.clock.now());
    this.rules.load();
    this.ledger = new Ledger({ spool: deps.spool, log: deps.log, onOutcome: deps.onOutcome, beforeRemove: deps.beforeRemove });
    this.waiting = new WaitingQueue({
      spool: deps.spool,
      clock: deps.clock,
      due: (p, envelope) => this.unpark(p, envelope),
      unreadable: (p, err) => this.unreadable(p, err),
    });
    // Read through this.deps at each use: reconfigure() replaces them.
    this.dispatch = new Dispatcher({
      clock: deps.clock,
      log: deps.log,
      config: () => this.deps.config,
      maxSessions: (rq) => this.deps.maxSessions?.(rq) ?? rq.provider.maxConnections,
      run: (rq) => this.deps.runSession(rq, this),
    });
    this.ops = new QueueOps({
      index: this.index,
      rules: this.rules,
      waiting: this.waiting,
      spool: deps.spool,
      clock: deps.clock,
      log: deps.log,
      readyQueues: () => this.dispatch.queues(),
      toParked: (item) => this.toParked(item),
      route: (item) => void this.route(item),
      finish: (item, rcpt, state, response, reason, dsnSent) => this.finish(item, rcpt, state, response, null, reason, dsnSent),
      // Read through this.deps at each use, as the dispatcher's.
      ...(deps.dsnFirst ? { dsnFirst: (envelope: Envelope, ends: readonly DsnFailure[]) => this.deps.dsnFirst?.(envelope, ends) ?? Promise.resolve() } : {}),
      stopped: () => this.stopped,
    });
    this.armExpiry();
  }

  /**
   * Mail in a ready queue that cannot send (a held source or pool, a held provider, a
   * rate or lease wait that keeps coming back) still ages: it expires at
   * max_age like deferred mail, instead of waiting for as long as the block lasts.
   * Checked every tenth of max_age, between once a second and once a minute.
   */
  private armExpiry(): void {
    const every = Math.min(60_000, Math.max(1_000, this.deps.config.queue.max_age / 10));
    this.expiryTimer = setTimeout(() => {
      this.expireReady();
      if (!this.stopped) this.armExpiry();
    }, every);
    this.expiryTimer.unref();
  }

  /**
   * A config reload: new routing, shaping and delivery parts take over for what is
   * routed from now on; queued mail and open sessions carry on untouched.
   */
  reconfigure(next: Partial<Pick<SchedulerDeps, 'config' | 'resolver' | 'providers' | 'router' | 'runSession' | 'maxSessions'>>): void {
    this.deps = { ...this.deps, ...next };
    // A reload must act as a fresh start for routing: sessions opened under the old config
    // (their source picked from the old pools) take no further item, idle ones end now,
    // and what waits in a ready queue is routed again with the new rules.
    this.generation++;
    for (const rq of this.dispatch.queues()) {
      rq.wakeAll();
      for (const item of rq.drain()) void this.route(item);
    }
    this.pump();
  }

  /** Bumped by each reconfigure(): a session started under an older one ends after its current message. */
  generation = 0;
  /** Bumped when an operator asks for mail to be tried now (flush, retry). */
  tryNow = 0;

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
    for (const rq of this.dispatch.queues()) for (const item of rq.snapshot()) add(rq.pool, rq.provider.name, item.rcpts.length, item.envelope.receivedAt);
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
    this.ledger.track(envelope.id, envelope.rcpts.length);
    const later = envelope.sendAt !== undefined && envelope.sendAt > now;
    for (const [domain, rcpts] of byDomain(envelope.rcpts)) {
      const nextAt = later ? (envelope.sendAt ?? now) : now;
      const entry = this.indexed(envelope, domain, rcpts, later ? 'scheduled' : 'ready', 0, nextAt);
      const item: QueueItem = { envelope, domain, rcpts, attempts: 0, nextAt, readyAt: now, entry };
      // Scheduled send: parked until X-Sluice-Send-At; the spool has it meanwhile.
      if (this.stopped || later) this.park(item);
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
    this.ledger.track(m.envelope.id, pending.length);
    const now = this.deps.clock.now();
    for (const [domain, rcpts] of byDomain(pending)) {
      const tries = Math.max(0, ...rcpts.map((r) => m.attempts.get(r) ?? 0));
      const due = Math.max(now, Math.min(...rcpts.map((r) => m.retryAt?.get(r) ?? now)), m.envelope.sendAt ?? 0);
      const state = (m.envelope.sendAt ?? 0) > now ? 'scheduled' : tries > 0 ? 'deferred' : 'ready';
      const entry = this.indexed(m.envelope, domain, rcpts, state, tries, due);
      const item: QueueItem = { envelope: m.envelope, domain, rcpts, attempts: tries, nextAt: due, readyAt: now, entry };
      // A hold rule kept from before the restart holds it again at once (queue-rules.json).
      if (this.rules.holding(entry)) this.ops.hold(item);
      else this.park(item);
    }
  }

  /**
   * Spool recovery found DSNs committed before the recipients they report were recorded
   * (a crash came between the two: Envelope.dsnFor): those recipients are recorded as the
   * DSN says now (bounced or expired, with its reply), with no second DSN. A DSN of an
   * earlier release names only recipients, from an operator's bounce. Call after
   * recovery, before restored(). Recipients already final are not touched.
   */
  bouncedBeforeCrash(dsns: readonly DsnFor[]): Promise<number> {
    const runs = dsns.map((d) => {
      const ends = new Map<string, RecoveredEnd>();
      for (const rcpt of d.rcpts) ends.set(rcpt, { state: 'bounced', response: ADMIN_BOUNCE.response, reason: 'admin' });
      for (const e of d.ends ?? []) {
        const response = e.reply ? { code: e.reply.code, enhanced: e.reply.enhanced, text: e.reply.text, command: null, local: false } : localResponse(451, '4.4.7', 'expired (no reply recorded)');
        ends.set(e.rcpt, { state: e.state, response, ...(e.reason !== undefined ? { reason: e.reason } : {}) });
      }
      return this.ops.bouncedBeforeCrash(d.id, ends);
    });
    return Promise.all(runs).then((reports) => reports.reduce((n, r) => n + r.ended, 0));
  }

  /** Spool recovery has ended: recovered items are released, each at its recorded next attempt (or now). */
  restored(): void {
    for (const id of this.finishedAtRestore) void this.deps.spool.remove(id);
    this.finishedAtRestore = [];
    if (!this.stopped) this.waiting.resume();
  }

  get depth(): number {
    return this.ledger.size;
  }

  queues(): readonly ReadyQueue[] {
    return [...this.dispatch.queues()];
  }

  waitingItems(): readonly Parked[] {
    return this.waiting.items();
  }

  /** Routes every item waiting in a ready queue again (a drain that hands mail to peers); returns how many. */
  rerouteReady(): number {
    let n = 0;
    for (const rq of this.dispatch.queues()) {
      for (const item of rq.drain()) {
        n++;
        void this.route(item);
      }
    }
    return n;
  }

  /** Matching waiting mail is due now (admin "retry"). */
  retry(entries: readonly Entry[]): void {
    this.tryNow++;
    this.ops.retry(entries);
  }

  /** Every waiting item becomes due now (admin "flush"). */
  flush(): number {
    this.tryNow++;
    return this.waiting.flush();
  }

  /** A new row in the queue index for one item. */
  private indexed(e: Envelope, domain: string, rcpts: readonly string[], state: Entry['state'], attempts: number, nextAt: number): Entry {
    const pool = this.labels.of(e.pool ?? e.class);
    return this.index.add({ id: e.id, domain, sender: e.mailFrom.toLowerCase(), campaign: e.campaign, cls: e.class, receivedAt: e.receivedAt, pool, provider: 'unrouted', source: null, rcpts, state, attempts, nextAt, lastReply: null });
  }

  /** Drops the envelope of an item that waits for a retry: the spool has it. */
  private park(item: QueueItem): void {
    if (item.rcpts.length === 0) return;
    if (this.ops.claim(item)) return;
    this.waiting.park(this.toParked(item));
  }

  /** What waits for an item is its index row, brought up to date with the item (routing set its pool and provider there). */
  private toParked(item: QueueItem): Parked {
    const e = item.entry;
    if (e.rcpts !== item.rcpts || e.attempts !== item.attempts || e.nextAt !== item.nextAt) this.index.update(e, { rcpts: item.rcpts, attempts: item.attempts, nextAt: item.nextAt });
    return e;
  }

  /** A parked item is due and its envelope was read back: route it again. */
  private unpark(p: Parked, envelope: Envelope): void {
    const now = this.deps.clock.now();
    // The id string the spool's index holds already, not a second copy per message once parked again.
    const item: QueueItem = { envelope: { ...envelope, id: p.id }, domain: p.domain, rcpts: [...p.rcpts], attempts: p.attempts, nextAt: p.nextAt, readyAt: now, entry: p };
    if (this.stopped) this.park(item);
    else void this.route(item);
  }

  /** The envelope of a due item could not be read: it waits for another retry interval. */
  private unreadable(p: Parked, err: unknown): void {
    this.deps.log.error({ err, queue_id: p.id }, 'cannot read spooled message');
    if (this.stopped) return;
    p.nextAt = this.deps.clock.now() + this.retryDelay(p.attempts);
    this.waiting.park(p);
  }

  private retryDelay(attempts: number): number {
    const { retry } = this.deps.config.queue;
    return retry[Math.max(0, Math.min(attempts - 1, retry.length - 1))] as number;
  }

  private async route(item: QueueItem): Promise<void> {
    if (this.ops.claim(item)) return;
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
    const decided = this.deps.router.decide({ envelope: item.envelope, domain: item.domain, provider: provider.name });
    let decision = decided;
    const entry = item.entry;
    // Queue rules (issue 17): a rebind picks the pool; a hold rule holds the item here.
    const pool = this.rules.rebind({ ...entry, provider: provider.name, pool: decision.pool }) ?? decision.pool;
    if (pool !== decided.pool) decision = { ...decided, pool };
    this.index.update(entry, { pool: this.labels.of(pool), provider: provider.name, state: 'ready' });
    if (this.rules.holding(entry)) {
      this.ops.hold(item);
      return;
    }
    const placed = this.deps.handoff?.place(item, decision.pool, provider);
    if (placed?.kind === 'peer') {
      void this.handOff(item, placed);
      return;
    }
    if (placed?.kind === 'later') {
      this.defer(item, item.rcpts, localResponse(451, '4.4.0', placed.why), null, this.deps.clock.now() + placed.retryMs);
      return;
    }
    // Priority is part of the key: a message of higher priority never queues behind lower ones in one FIFO.
    const key = `${decision.pool}\u0000${route.site}\u0000${decision.priority}`;
    const rq = this.dispatch.queueFor(key, decision.pool, route.site, route.hosts, provider, decision.priority);
    rq.onTake ??= (taken) => {
      this.ops.queueFreed(rq);
      this.index.update(taken.entry, { state: 'in_flight' });
    };
    item.readyAt = this.deps.clock.now();
    rq.push(item);
    this.pump();
  }

  /**
   * Passes an item to a peer (cluster handoff): its recipients the peer took are
   * handed_off here (final: the peer reports their outcomes); the rest, or all of them
   * when the peer is unreachable or refuses, are routed again a moment later (no attempt
   * counted: nothing was tried at a mail server).
   */
  private async handOff(item: QueueItem, to: { readonly node: string; readonly source: string; readonly pool: string }): Promise<void> {
    const handoff = this.deps.handoff;
    if (!handoff) return;
    this.index.update(item.entry, { state: 'in_flight' });
    let took: readonly string[] = [];
    let why = '';
    try {
      took = await handoff.send(item, to);
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    const taken = new Set(took);
    const left = item.rcpts.filter((r) => !taken.has(r));
    for (const r of took) this.final(item, r, 'handed_off', null, null);
    if (left.length === 0) return;
    const response = localResponse(451, '4.4.0', `handoff to node ${to.node} failed${why ? `: ${why.slice(0, 200)}` : ': recipients refused'}`);
    this.defer(item, left, response, null, this.deps.clock.now() + HANDOFF_RETRY_MS);
  }

  /** Starts sessions where work waits, highest effective priority first (dispatch.ts). */
  pump(): void {
    this.dispatch.pump();
  }

  /**
   * A session could not start: nothing usable until `retryMs` passes, or (when
   * `waitingFor` names lease keys) until a session holding one of them releases it.
   * `held`: because of a hold, not a limit.
   */
  block(rq: ReadyQueue, retryMs: number, reason: string, waitingFor: readonly string[] = [], held = false): void {
    this.dispatch.block(rq, retryMs, reason, waitingFor);
    // A hold of the pool or of every source: its mail shows as held (issue 17).
    if (held) this.ops.queueHeld(rq);
  }

  /** A session released its lease on `keys`: queues waiting for one of them try again now. */
  released(keys: readonly string[]): void {
    this.dispatch.released(keys);
  }

  /** A session of `rq` sent a message: ageing of `rq` counts from now. */
  served(rq: ReadyQueue): void {
    this.dispatch.served(rq);
  }

  /** Whether a session of `rq` holding leases on `keys` should give way to a more urgent queue. */
  shouldYield(rq: ReadyQueue, keys: readonly string[]): boolean {
    return this.dispatch.shouldYield(rq, keys);
  }

  /** Expires ready items that reached max_age; returns how many items expired. */
  expireReady(): number {
    const now = this.deps.clock.now();
    const maxAge = this.deps.config.queue.max_age;
    let n = 0;
    for (const rq of this.dispatch.queues()) {
      const stale = rq.takeWhere((item) => now - item.envelope.receivedAt >= maxAge);
      if (stale.length === 0) continue;
      const blocked = rq.blockedUntil > now && rq.blockedReason !== '';
      const why = blocked ? rq.blockedReason : 'still waiting for a connection';
      // (held mail is expired by expireHeld below)
      const response = localResponse(451, '4.4.7', `waiting in the ready queue of pool ${rq.pool} for ${rq.provider.name}: ${why}`);
      for (const item of stale) for (const r of item.rcpts) this.final(item, r, 'expired', response, null);
      this.deps.log.warn({ event: 'queue_expired', pool: rq.pool, provider: rq.provider.name, site: rq.site, items: stale.length, reason: why }, 'mail reached max_age while its queue could not send');
      n += stale.length;
    }
    void this.ops.expireHeld(now, maxAge, localResponse(451, '4.4.7', 'held by an operator until it reached max_age'));
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
    this.index.update(item.entry, { state: until === null ? 'deferred' : 'held', rcpts: item.rcpts, attempts: item.attempts, nextAt: item.nextAt, lastReply: formatResponse(response).slice(0, 120), ...(via ? { source: via.source } : {}) });
    // Its next attempt is a while away: the cached body would only crowd out fresh mail.
    this.deps.spool.forget?.(item.envelope.id);
    this.ledger.deferred(item, rcpts, response, via);
    if (this.stopped) return;
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

  /**
   * Puts an item back at the front of its ready queue (a session stopped before sending it).
   * Taken under an older config (`generation`): it is routed again, as a reload routes every ready item.
   */
  putBack(rq: ReadyQueue, item: QueueItem, generation = this.generation): void {
    if (generation !== this.generation) {
      void this.route(item);
      return;
    }
    rq.unshift(item);
    this.index.update(item.entry, { state: 'ready' });
    this.pump();
  }

  /**
   * Each recipient of an item gets exactly one final state: the message leaves the spool
   * after its last. A bounced or expired recipient whose sender is owed a DSN waits for it:
   * the recipients a message ends in one turn share one DSN, committed before they are
   * recorded (dsnFirst), so a crash between the two loses no DSN and sends none twice.
   */
  final(item: QueueItem, rcpt: string, state: FinalState, response: Response | null, via: Via | null, reason?: string): void {
    if ((state === 'bounced' || state === 'expired') && this.deps.dsnFirst && owesDsn(item.envelope)) {
      const id = item.envelope.id;
      const batch = this.dsnBatches.get(id) ?? [];
      if (batch.length === 0) this.dsnBatches.set(id, batch);
      batch.push({ item, rcpt, state, response, via, ...(reason !== undefined ? { reason } : {}) });
      if (this.dsnBatches.size === 1 && batch.length === 1) queueMicrotask(() => this.commitDsns());
      return;
    }
    void this.finish(item, rcpt, state, response, via, reason);
  }

  /** One DSN per message for what ended this turn; then its recipients are recorded. */
  private commitDsns(): void {
    const batches = [...this.dsnBatches.values()];
    this.dsnBatches.clear();
    for (const batch of batches) {
      const first = batch[0] as DsnWaiting;
      const ends = batch.map((b) => ({ rcpt: b.rcpt, state: b.state, response: b.response, mx: b.via?.mx ?? null, ...(b.reason !== undefined ? { reason: b.reason } : {}) }));
      const run = Promise.resolve()
        .then(() => this.deps.dsnFirst?.(first.item.envelope, ends))
        .then(
          () => true,
          (err: unknown) => {
            // Recorded all the same; the outcome path tries the DSN again as the message leaves.
            this.deps.log.error({ err, queue_id: first.item.envelope.id }, 'cannot commit the DSN before recording its recipients; queued after them instead');
            return false;
          },
        )
        .then((sent) => {
          for (const b of batch) void this.finish(b.item, b.rcpt, b.state, b.response, b.via, b.reason, sent);
        });
      this.dsnRuns.add(run);
      void run.finally(() => this.dsnRuns.delete(run));
    }
  }

  /** final(), returning the message's DSN step and removal when `rcpt` was its last (queue actions wait for a few). */
  private finish(item: QueueItem, rcpt: string, state: FinalState, response: Response | null, via: Via | null, reason?: string, dsnSent?: boolean): Promise<void> | undefined {
    const removal = this.ledger.final(item, rcpt, state, response, via, reason, dsnSent);
    const e = item.entry;
    const left = e.rcpts.filter((r) => r !== rcpt);
    if (left.length > 0) this.index.update(e, { rcpts: left });
    else {
      this.index.remove(e);
      this.ops.settled(e);
    }
    return removal;
  }

  get stopped(): boolean {
    return this.dispatch.stopped;
  }

  /** Stops starting sessions; resolves once running sessions ended or after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.dispatch.halt();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.waiting.hold();
    // A bounce or cancel under way stops at its next turn; its DSNs in flight finish first.
    await Promise.all([this.dispatch.ended(timeoutMs), this.ops.idle()]);
    // DSNs being committed before their recipients are recorded: those end first.
    while (this.dsnRuns.size > 0) await Promise.allSettled([...this.dsnRuns]);
  }
}

/** A recipient that bounced or expired, waiting for its DSN to be committed (Scheduler.final). */
interface DsnWaiting {
  readonly item: QueueItem;
  readonly rcpt: string;
  readonly state: 'bounced' | 'expired';
  readonly response: Response | null;
  readonly via: Via | null;
  readonly reason?: string;
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
