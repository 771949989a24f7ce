/**
 * Runs one outbound session for a ready queue: pick a source and lease, connect, then
 * send the queue's items one after another within the provider's limits (rate tokens,
 * messages per connection, warm-up), applying response rules to what comes back.
 */
import type { Config } from '../config/schema.js';
import type { Spool } from '../spool/types.js';
import type { Clock, StateBackend } from '../state/types.js';
import type { SourcePicker, Grant } from '../routing/source-picker.js';
import { LEASE_TTL_MS } from '../routing/source-picker.js';
import type { WarmupGate } from '../shaping/warmup-gate.js';
import type { HoldCache } from '../shaping/hold-cache.js';
import { keys } from '../shaping/keys.js';
import { matchRule } from '../shaping/response-rules.js';
import { DeliverySession } from '../delivery/session.js';
import { formatResponse, localResponse, type Response } from '../delivery/response.js';
import type { ReadyQueue } from './ready-queue.js';
import type { Logger, Scheduler, Via } from './scheduler.js';
import type { QueueItem } from './types.js';

export interface RunnerDeps {
  readonly config: Config;
  readonly spool: Spool;
  readonly state: StateBackend;
  readonly picker: SourcePicker;
  readonly warmup: WarmupGate;
  readonly holds: HoldCache;
  readonly clock: Clock;
  readonly log: Logger;
  /** Checks recipients just before sending (suppression); may throw when it cannot tell. */
  readonly recipientFilter?: (rcpt: string) => Promise<boolean>;
  readonly onSessionChange?: (source: string, provider: string, delta: 1 | -1) => void;
  readonly onWarmupExhausted?: (source: string) => void;
}

export function createSessionRunner(deps: RunnerDeps) {
  return async function runSession(rq: ReadyQueue, sched: Scheduler): Promise<void> {
    const pick = await deps.picker.pick(rq.pool, rq.provider);
    if (pick.kind === 'wait') {
      sched.block(rq, pick.retryMs, pick.reason);
      return;
    }
    const grant = pick.grant;
    const renew = setInterval(() => void deps.state.throttle.renew(grant.lease, LEASE_TTL_MS).catch(() => undefined), LEASE_TTL_MS / 3);
    renew.unref();
    deps.onSessionChange?.(grant.source.name, rq.provider.name, 1);
    try {
      await runWithGrant(deps, rq, sched, grant);
    } finally {
      clearInterval(renew);
      deps.onSessionChange?.(grant.source.name, rq.provider.name, -1);
      await deps.state.throttle.release(grant.lease).catch(() => undefined);
    }
  };
}

async function runWithGrant(deps: RunnerDeps, rq: ReadyQueue, sched: Scheduler, grant: Grant): Promise<void> {
  const d = deps.config.delivery;
  const opened = await DeliverySession.open(rq.hosts, grant.source, { connectTimeoutMs: rq.provider.connectTimeoutMs, commandTimeoutMs: d.command_timeout, tls: d.tls });
  const via: Via = { pool: rq.pool, source: grant.source.name, sourceIp: grant.source.ip ?? null, provider: rq.provider.name, mx: null };
  if (!(opened instanceof DeliverySession)) {
    // The site is unreachable from this source: every item waiting for it shares the fate.
    const items = rq.drain();
    deps.log.warn({ event: 'connect_failed', site: rq.site, source: grant.source.name, reply: formatResponse(opened) }, 'connection failed');
    for (const item of items) settleWithRules(deps, sched, rq, item, item.rcpts.map((rcpt) => ({ rcpt, response: opened })), via);
    return;
  }
  const session = opened;
  const viaMx: Via = { ...via, mx: session.host.name };
  try {
    while (session.usable && !sched.stopped) {
      if (session.sent >= rq.provider.maxMessagesPerConnection) break;
      const item = await rq.next(rq.provider.idleTimeoutMs);
      if (!item) break;
      if (sched.stopped) {
        sched.putBack(rq, item);
        break;
      }
      const sendable = await filterRecipients(deps, sched, item, viaMx);
      if (sendable.length === 0) continue;
      if (!(await deps.warmup.take(grant.source.name))) {
        deps.onWarmupExhausted?.(grant.source.name);
        sched.putBack(rq, item);
        break;
      }
      if (!(await waitForToken(deps, rq, grant, sched))) {
        await deps.warmup.giveBack(grant.source.name);
        sched.putBack(rq, item);
        break;
      }
      let body: Buffer;
      try {
        body = await deps.spool.readBody(item.envelope.id);
      } catch (err) {
        deps.log.error({ err, queue_id: item.envelope.id }, 'cannot read spooled message');
        sched.defer(item, sendable, localResponse(451, '4.3.0', 'local spool read error'), viaMx);
        continue;
      }
      const result = await session.send(item.envelope.mailFrom, sendable, body);
      settleWithRules(deps, sched, rq, item, result.results, viaMx);
    }
  } finally {
    session.close();
  }
}

/** Drops suppressed recipients; defers them all when the list cannot be checked. */
async function filterRecipients(deps: RunnerDeps, sched: Scheduler, item: QueueItem, via: Via): Promise<string[]> {
  if (!deps.recipientFilter) return item.rcpts;
  const keep: string[] = [];
  try {
    for (const r of item.rcpts) {
      if (await deps.recipientFilter(r)) keep.push(r);
      else sched.final(item, r, 'suppressed', localResponse(550, '5.7.1', 'recipient is suppressed'), via);
    }
  } catch {
    sched.defer(item, item.rcpts, localResponse(451, '4.3.0', 'suppression list unavailable'), via);
    return [];
  }
  item.rcpts = keep;
  return keep;
}

async function waitForToken(deps: RunnerDeps, rq: ReadyQueue, grant: Grant, sched: Scheduler): Promise<boolean> {
  const claims = [];
  if (rq.provider.maxMessageRate) claims.push({ key: keys.sourceRate(grant.source.name, rq.provider.key), rate: rq.provider.maxMessageRate });
  if (rq.provider.totalMaxMessageRate) claims.push({ key: keys.providerRate(rq.provider.key), rate: rq.provider.totalMaxMessageRate });
  if (claims.length === 0) return true;
  for (;;) {
    if (sched.stopped) return false;
    let r;
    try {
      r = await deps.state.throttle.take(claims);
    } catch {
      return false;
    }
    if (r.ok) return true;
    // Waiting longer than the idle timeout holds a connection for nothing: give it back.
    if (r.retryAfterMs > Math.max(rq.provider.idleTimeoutMs, 2_000)) return false;
    await new Promise((res) => setTimeout(res, Math.max(1, r.retryAfterMs)));
  }
}

function settleWithRules(deps: RunnerDeps, sched: Scheduler, rq: ReadyQueue, item: QueueItem, results: readonly { rcpt: string; response: Response }[], via: Via): void {
  const out = results.map(({ rcpt, response }) => {
    let kind: 'delivered' | 'bounced' | 'deferred' = response.code < 300 ? 'delivered' : response.code >= 500 ? 'bounced' : 'deferred';
    const hit = response.code >= 400 ? matchRule(rq.provider.rules, response) : null;
    if (hit) {
      if (hit.action === 'defer') kind = 'deferred';
      else if (hit.action === 'bounce') kind = 'bounced';
      else {
        const scope = hit.action === 'suspend' ? keys.holdSourceProvider(via.source, rq.provider.key) : keys.holdProvider(rq.provider.key);
        if (!deps.holds.held(scope)) {
          const until = deps.clock.now() + hit.durationMs;
          deps.log.warn({ event: 'source_suspended', scope, rule: hit.match, until: new Date(until).toISOString(), reply: formatResponse(response) }, 'suspended by response rule');
          void deps.holds.set({ scope, reason: `rule "${hit.match}": ${formatResponse(response).slice(0, 200)}`, until, by: 'response-rule' }).catch(() => undefined);
        }
        // A suspension is the provider pushing back, not a verdict on the recipient.
        kind = 'deferred';
      }
    }
    return { rcpt, response, kind };
  });
  sched.settle(item, out, via);
}
