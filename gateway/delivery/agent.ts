/**
 * Runs one outbound session for a ready queue: pick a source and lease, connect, then
 * send the queue's items one after another within the provider's limits (rate tokens,
 * messages per connection, warm-up), applying response rules to what comes back. The
 * session ends early when its source gets held, its lease is lost (Redis came back and
 * the shared limit is full), or a more urgent queue waits for its lease. It reaches the
 * queue, the picker and shaping through the ports in agent-ports.ts only.
 */
import type { Config } from '../config/schema.js';
import type { Spool } from '../spool/types.js';
import type { Clock } from '../state/types.js';
import type { Grant, ReadyQueuePort, ReturnPath, SchedulerPort, SendSlot, SessionLimits, ShapingPort, SourcePort, RuleHit, ThrottlePort } from './agent-ports.js';
import { DeliverySession } from './session.js';
import { isTransient, isPermanent, formatResponse, localResponse, type Response } from './response.js';
import type { QueueItem, Via } from '../queue/types.js';
import type { Logger } from '../observe/logger.js';
import { UnreachableSites } from './unreachable-sites.js';

export interface RunnerDeps<P extends SessionLimits> {
  readonly config: Pick<Config, 'delivery' | 'queue'>;
  readonly spool: Pick<Spool, 'readBody' | 'recorded'>;
  /** Leases and rate tokens (read through `state` at each use). */
  readonly state: { readonly throttle: ThrottlePort };
  readonly picker: SourcePort<P>;
  /** Warm-up, send windows, response rules, and the holds those rules ask for. */
  readonly shaping: ShapingPort<P>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Checks recipients just before sending (suppression); may throw when it cannot tell. */
  readonly recipientFilter?: (rcpt: string) => Promise<boolean>;
  readonly onSessionChange?: (source: string, provider: string, delta: 1 | -1) => void;
  /** True while the shared state is unreachable and limits are this node's share. */
  readonly degraded?: () => boolean;
  /** [bounces] domain: the VERP envelope sender for one delivery (bounce/verp.ts); absent: the message's own. */
  readonly returnPath?: ReturnPath;
}

/** Runs one session against ready queue `rq` of scheduler `sched`; resolves when it has ended. */
export type SessionRun<Q> = (rq: Q, sched: SchedulerPort<Q>) => Promise<void>;

const MIN_GREETING_BACKOFF_MS = 1_000;
const MAX_GREETING_BACKOFF_MS = 60_000;

/** Waiting this long for a rate token ends the session and blocks the queue instead (no idle connection). */
const MAX_TOKEN_WAIT_MS = 2_000;

export function createSessionRunner<P extends SessionLimits, Q extends ReadyQueuePort<P>>(deps: RunnerDeps<P>): SessionRun<Q> {
  const unreachable = new UnreachableSites(deps.config.queue.retry[0] ?? Infinity);
  let tryNowSeen = 0;
  return async function runSession(rq, sched) {
    if (sched.tryNow !== tryNowSeen) {
      tryNowSeen = sched.tryNow;
      unreachable.clear();
    }
    // A site that refused every connection a moment ago: its mail is deferred without a connection.
    const suspended = unreachable.suspended(siteKey(rq), deps.clock.now());
    if (suspended) {
      for (const item of rq.drain()) sched.defer(item, item.rcpts, suspended, null);
      return;
    }
    const pick = await deps.picker.pick(rq.pool, rq.provider);
    if (pick.kind === 'wait') {
      sched.block(rq, pick.retryMs, pick.reason, pick.waitingFor, pick.held === true);
      return;
    }
    if (pick.kind === 'capped') {
      const n = sched.postpone(rq, pick.until, localResponse(451, '4.4.5', `warm-up cap reached for today (${pick.reason}); waiting until ${new Date(pick.until).toISOString()}`));
      if (n > 0) deps.log.warn({ event: 'queue_postponed', pool: rq.pool, provider: rq.provider.name, site: rq.site, items: n, until: new Date(pick.until).toISOString(), reason: pick.reason }, 'every source at its warm-up cap: mail waits for the next day');
      return;
    }
    const grant = pick.grant;
    const lease = { lost: false };
    const ttlMs = deps.picker.leaseTtlMs;
    const renew = setInterval(() => {
      deps.state.throttle.renew(grant.lease, ttlMs).then(
        (ok) => {
          if (!ok) lease.lost = true;
        },
        () => undefined,
      );
    }, ttlMs / 3);
    renew.unref();
    deps.onSessionChange?.(grant.source.name, rq.provider.name, 1);
    try {
      await runWithGrant(deps, rq, sched, grant, lease, unreachable);
    } finally {
      clearInterval(renew);
      deps.onSessionChange?.(grant.source.name, rq.provider.name, -1);
      await deps.state.throttle.release(grant.lease).catch(() => undefined);
      sched.released(grant.lease.keys);
    }
  };
}

async function runWithGrant<P extends SessionLimits, Q extends ReadyQueuePort<P>>(deps: RunnerDeps<P>, rq: Q, sched: SchedulerPort<Q>, grant: Grant, lease: { lost: boolean }, unreachable: UnreachableSites): Promise<void> {
  const d = deps.config.delivery;
  const takenDegraded = deps.degraded?.() === true;
  const opened = await DeliverySession.open(rq.hosts, grant.source, { connectTimeoutMs: rq.provider.connectTimeoutMs, commandTimeoutMs: d.command_timeout, tls: d.tls });
  const via: Via = { pool: grant.pool, source: grant.source.name, sourceIp: grant.source.ip ?? null, provider: rq.provider.name, mx: null };
  if (!(opened instanceof DeliverySession)) {
    const hit = ruleFor(deps, rq, opened);
    // No server answered (refused, timed out, unroutable): the site is suspended a while.
    const suspendedMs = opened.local && opened.enhanced?.startsWith('4.4.') === true && hit === null ? unreachable.failed(siteKey(rq), deps.clock.now(), opened) : 0;
    deps.log.warn({ event: 'connect_failed', site: rq.site, source: grant.source.name, reply: formatResponse(opened), ...(suspendedMs > 0 ? { suspended_ms: suspendedMs } : {}) }, 'connection failed');
    // A greeting a rule says means "this source, back off": the queue waits for another source.
    if (holdFor(deps, rq, hit, opened, via)) return;
    if (!opened.local && isTransient(opened)) {
      // The server answered but is busy (e.g. "too many connections from your IP"): the
      // mail stays queued and no new session starts for a while, instead of every message
      // burning an attempt and the next sessions hammering the same busy greeting.
      rq.greetingBackoffMs = Math.min(MAX_GREETING_BACKOFF_MS, Math.max(MIN_GREETING_BACKOFF_MS, rq.greetingBackoffMs * 2));
      sched.block(rq, rq.greetingBackoffMs, `busy greeting: ${formatResponse(opened).slice(0, 120)}`);
      return;
    }
    // The site is unreachable from this source: every item waiting for it shares the fate.
    const items = rq.drain();
    for (const item of items) settleWithRules(deps, sched, rq, item, item.rcpts.map((rcpt) => ({ rcpt, response: opened })), via);
    return;
  }
  const session = opened;
  rq.greetingBackoffMs = 0;
  unreachable.reached(siteKey(rq));
  const viaMx: Via = { ...via, mx: session.host.name };
  // The config this session's source was picked under: after a reload it sends nothing more.
  const generation = sched.generation;
  try {
    while (session.usable && !sched.stopped && !lease.lost && sched.generation === generation) {
      if (session.sent >= rq.provider.maxMessagesPerConnection) break;
      // A lease taken from this node's share during an outage is not in the shared count:
      // once shared state is back, end the session so the next one takes a shared lease.
      if (takenDegraded && deps.degraded?.() === false) break;
      // A response rule or the health monitor may have held this source meanwhile.
      if (deps.picker.sourceHeld(grant.source.name, rq.provider)) break;
      if (session.sent > 0 && sched.shouldYield(rq, grant.lease.keys)) break;
      const item = await rq.next(rq.provider.idleTimeoutMs);
      if (!item) break;
      // Held while this session sat idle: the item goes back for another source.
      if (sched.stopped || sched.generation !== generation || deps.picker.sourceHeld(grant.source.name, rq.provider) || deps.picker.poolHeld(rq.pool) || deps.picker.poolHeld(grant.pool)) {
        sched.putBack(rq, item, generation);
        break;
      }
      const sendable = await filterRecipients(deps, sched, item, viaMx);
      if (sendable.length === 0) continue;
      // Read before the rate token: a disk read between token and wire (a cold cache after
      // a restart) would delay some messages more than others and bunch their arrivals.
      let body: Buffer;
      try {
        body = await deps.spool.readBody(item.envelope.id);
      } catch (err) {
        deps.log.error({ err, queue_id: item.envelope.id }, 'cannot read spooled message');
        sched.defer(item, sendable, localResponse(451, '4.3.0', 'local spool read error'), viaMx);
        continue;
      }
      const budget = await deps.shaping.warmupTake(grant.source.name).catch(() => null);
      if (budget !== true) {
        sched.putBack(rq, item, generation);
        // null: the warm-up count could not be read; try again in a second.
        if (budget === null) sched.block(rq, 1_000, 'warm-up count unavailable');
        break;
      }
      const token = await waitForToken(deps, rq, grant, sched);
      const slot = token === 'ok' ? await admitSend(deps, rq, grant, sched) : null;
      if (slot === null) {
        await deps.shaping.warmupGiveBack(grant.source.name).catch(() => undefined);
        sched.putBack(rq, item, generation);
        const blockMs = token === 'ok' ? 1_000 : token.blockMs;
        if (blockMs > 0) sched.block(rq, blockMs, `rate limit of ${rq.provider.name} reached`);
        break;
      }
      let result;
      try {
        result = await session.send(deps.returnPath?.(item.envelope, sendable, grant.source.name, grant.pool) ?? item.envelope.mailFrom, sendable, body);
      } finally {
        slot.done();
      }

      sched.served(rq);
      settleWithRules(deps, sched, rq, item, result.results, viaMx);
      // "Delivered" reaches the journal before the next message goes out on this
      // connection: a kill -9 during the next one then resends neither (issue 11).
      await deps.spool.recorded?.();
    }
  } finally {
    await session.close();
  }
}

/** Drops suppressed recipients; defers them all when the list cannot be checked. */
async function filterRecipients<P extends SessionLimits, Q>(deps: RunnerDeps<P>, sched: SchedulerPort<Q>, item: QueueItem, via: Via): Promise<string[]> {
  if (!deps.recipientFilter) return item.rcpts;
  const keep: string[] = [];
  let checked = 0;
  try {
    for (const r of item.rcpts) {
      if (await deps.recipientFilter(r)) keep.push(r);
      else sched.final(item, r, 'suppressed', localResponse(550, '5.7.1', 'recipient is suppressed'), via);
      checked++;
    }
  } catch {
    // Those already suppressed have their final state: only the others wait for a retry.
    sched.defer(item, [...keep, ...item.rcpts.slice(checked)], localResponse(451, '4.3.0', 'suppression list unavailable'), via);
    return [];
  }
  item.rcpts = keep;
  return keep;
}

/** Waits until this node's own recent sends leave room under every rate; null: not within the token wait. */
async function admitSend<P extends SessionLimits, Q extends ReadyQueuePort<P>>(deps: RunnerDeps<P>, rq: Q, grant: Grant, sched: SchedulerPort<Q>): Promise<SendSlot | null> {
  const claims = deps.shaping.rateClaims(grant.source.name, rq.provider);
  if (deps.shaping.admit === undefined || claims.length === 0) return { done: () => undefined };
  const deadline = deps.clock.now() + Math.max(rq.provider.idleTimeoutMs, MAX_TOKEN_WAIT_MS);
  return deps.shaping.admit(claims, deadline, () => sched.stopped);
}

/** Takes a rate token, waiting for short gaps; a long gap ends the session and blocks the queue for it. */
async function waitForToken<P extends SessionLimits, Q extends ReadyQueuePort<P>>(deps: RunnerDeps<P>, rq: Q, grant: Grant, sched: SchedulerPort<Q>): Promise<'ok' | { blockMs: number }> {
  const claims = deps.shaping.rateClaims(grant.source.name, rq.provider);
  if (claims.length === 0) return 'ok';
  // Waiting longer than the idle timeout (in one gap or in many) holds a connection for nothing: give it back.
  const limit = Math.max(rq.provider.idleTimeoutMs, MAX_TOKEN_WAIT_MS);
  const start = deps.clock.now();
  for (;;) {
    if (sched.stopped) return { blockMs: 0 };
    let r;
    try {
      r = await deps.state.throttle.take(claims);
    } catch {
      return { blockMs: 1_000 };
    }
    if (r.ok) return 'ok';
    if (deps.clock.now() - start + r.retryAfterMs > limit) return { blockMs: r.retryAfterMs };
    await new Promise((res) => setTimeout(res, Math.max(1, r.retryAfterMs)));
  }
}

/** A site as one pool reaches it: another pool's sources may sit elsewhere on the network (or speak IPv6). */
function siteKey(rq: { readonly pool: string; readonly site: string }): string {
  return `${rq.pool}\u0000${rq.site}`;
}

function ruleFor<P extends SessionLimits>(deps: RunnerDeps<P>, rq: ReadyQueuePort<P>, response: Response): RuleHit | null {
  return response.code >= 400 ? deps.shaping.ruleFor(rq.provider, response) : null;
}

/** Sets the hold a `hold` / `hold_provider` rule (or its alias `suspend` / `suspend_provider`) asks for; true when `hit` is one. */
function holdFor<P extends SessionLimits>(deps: RunnerDeps<P>, rq: ReadyQueuePort<P>, hit: RuleHit | null, response: Response, via: Via): boolean {
  if (!hit) return false;
  let wholeProvider: boolean;
  switch (hit.action) {
    case 'hold':
    case 'suspend':
      wholeProvider = false;
      break;
    case 'hold_provider':
    case 'suspend_provider':
      wholeProvider = true;
      break;
    case 'defer':
    case 'bounce':
      return false;
  }
  deps.shaping.hold({
    target: wholeProvider ? { kind: 'provider', provider: rq.provider.key } : { kind: 'source-provider', source: via.source, provider: rq.provider.key },
    provider: rq.provider.name,
    reason: 'provider_rule',
    detail: `rule "${hit.match}" (${hit.action}) matched ${formatResponse(response).slice(0, 200)}`,
    by: 'response-rule',
    until: deps.clock.now() + hit.durationMs,
  });
  return true;
}

function settleWithRules<P extends SessionLimits, Q extends ReadyQueuePort<P>>(deps: RunnerDeps<P>, sched: SchedulerPort<Q>, rq: Q, item: QueueItem, results: readonly { rcpt: string; response: Response }[], via: Via): void {
  const out = results.map(({ rcpt, response }) => {
    let kind: 'delivered' | 'bounced' | 'deferred' = isPermanent(response) ? 'bounced' : response.code < 300 ? 'delivered' : 'deferred';
    const hit = ruleFor(deps, rq, response);
    if (hit?.action === 'defer') kind = 'deferred';
    else if (hit?.action === 'bounce') kind = 'bounced';
    // A hold is the provider pushing back on the source, not a verdict on the recipient.
    else if (holdFor(deps, rq, hit, response, via)) kind = 'deferred';
    return { rcpt, response, kind };
  });
  sched.settle(item, out, via);
}
