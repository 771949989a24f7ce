/**
 * One node's queue control (issue 17): summaries and pages from the live index, and
 * the actions (hold, lift, retry, bounce, cancel, rebind) with a selector. Each
 * action is a log line and an event record (event log and webhooks) naming who asked.
 * The fleet-wide layer (cluster/queue-fleet.ts) asks every live node through this.
 */
import { localResponse } from '../delivery/response.js';
import type { Logger } from '../observe/logger.js';
import type { QueueActionRecord } from '../observe/event-types.js';
import type { Clock } from '../state/types.js';
import type { Entry, GroupBy, GroupView, QueueState } from './index.js';
import { describe, isEmpty, type Selector } from './selector.js';
import type { Scheduler } from './scheduler.js';
import { ruleText, type RuleView } from './rules.js';
import type { EndingReport } from './queue-ending.js';
import { ADMIN_BOUNCE } from './queue-ops.js';

export const QUEUE_ACTIONS = ['hold', 'lift', 'retry', 'bounce', 'cancel', 'rebind'] as const;
export type QueueAction = (typeof QUEUE_ACTIONS)[number];

/**
 * The older names of hold and lift (issue 17 named them suspend and resume), still
 * accepted by the API and the CLI (README "Words"), and what a request to peers says, so
 * that a node of an earlier release in the fleet understands it.
 */
export const QUEUE_ACTION_ALIASES: Readonly<Record<string, QueueAction>> = { suspend: 'hold', resume: 'lift' };

/** The action a name (or an older name) stands for; null when it is none. */
export function queueAction(name: string): QueueAction | null {
  if ((QUEUE_ACTIONS as readonly string[]).includes(name)) return name as QueueAction;
  return Object.hasOwn(QUEUE_ACTION_ALIASES, name) ? (QUEUE_ACTION_ALIASES[name] ?? null) : null;
}

/** The name peers of every release know an action by: hold and lift by their older names. */
export function peerActionName(action: QueueAction): string {
  return Object.entries(QUEUE_ACTION_ALIASES).find(([, a]) => a === action)?.[0] ?? action;
}

export interface ActionRequest {
  readonly selector: Selector;
  readonly dry_run: boolean;
  /** ms; hold and rebind (absent: until lifted). */
  readonly duration: number | null;
  readonly pool: string | null;
  readonly all: boolean;
}

/** What one node matched (and, unless a dry run, acted on). */
export interface NodeCount {
  readonly node: string;
  readonly messages: number;
  readonly recipients: number;
  readonly error?: string;
}

export interface MessageRow {
  readonly queue_id: string;
  readonly node: string;
  readonly domain: string;
  readonly recipients: readonly string[];
  readonly sender: string;
  readonly campaign: string | null;
  readonly class: string;
  readonly pool: string;
  readonly provider: string;
  readonly source: string | null;
  readonly state: QueueState;
  readonly attempts: number;
  readonly last_reply: string | null;
  readonly next_attempt: string | null;
  readonly age_s: number;
}


/** A request the admin API answers with 400: `message` says what is wrong. */
export class QueueRequestError extends Error {
  override readonly name = 'QueueRequestError';
}

export interface QueueControlDeps {
  readonly node: string;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly pools: () => readonly string[];
  readonly publish: (record: QueueActionRecord) => void;
}

export class QueueControl {
  private ruleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: QueueControlDeps) {}

  get node(): string {
    return this.deps.node;
  }

  /** Lapsed rules release what they held, checked at the next lapse time. */
  start(): void {
    this.armRules();
  }

  stop(): void {
    if (this.ruleTimer) clearTimeout(this.ruleTimer);
    this.ruleTimer = null;
  }

  summary(by: GroupBy): GroupView[] {
    return this.deps.scheduler.index.summary(by, this.deps.clock.now());
  }

  messages(selector: Selector, state: QueueState | undefined, limit: number, after: string | null): { messages: MessageRow[]; next: string | null } {
    const page = this.deps.scheduler.index.page(selector, state, limit, after);
    return { messages: page.entries.map((e) => this.row(e)), next: page.next };
  }

  rules(): RuleView[] {
    return this.deps.scheduler.rules.views();
  }

  /** Checks a request before any node acts on it (the same checks on every node). */
  check(action: QueueAction, req: ActionRequest): void {
    if (isEmpty(req.selector) && !req.all && action !== 'retry' && action !== 'lift') {
      throw new QueueRequestError(`${action}: the selector is empty; name domain, provider, campaign, sender, pool, source, class or queue_id, or set "all": true to act on all queued mail`);
    }
    if (action === 'rebind') {
      if (req.pool === null) throw new QueueRequestError('rebind: "pool" is required (the pool the mail leaves from)');
      if (!this.deps.pools().includes(req.pool)) throw new QueueRequestError(`rebind: unknown pool "${req.pool}" (known: ${this.deps.pools().join(', ') || 'none'})`);
    } else if (req.pool !== null) throw new QueueRequestError(`${action}: "pool" applies to rebind only`);
    if (req.duration !== null && action !== 'hold' && action !== 'rebind') throw new QueueRequestError(`${action}: "duration" applies to hold (suspend) and rebind only`);
  }

  async act(action: QueueAction, req: ActionRequest, by: string): Promise<NodeCount> {
    this.check(action, req);
    const s = this.deps.scheduler;
    const sel = req.all && isEmpty(req.selector) ? {} : req.selector;
    // A bounce or cancel counts what it will end: not what an earlier one is ending already.
    const ends = action === 'bounce' || action === 'cancel';
    const matched = action === 'lift' ? s.index.select(sel, 'held') : s.index.select(sel).filter((e) => !ends || !s.ops.isEnding(e));
    const count = { node: this.deps.node, messages: new Set(matched.map((e) => e.id)).size, recipients: matched.reduce((n, e) => n + e.rcpts.length, 0) };
    if (!req.dry_run) await this.apply(action, req, sel, matched, by);
    const line = { event: 'queue_action', action, selector: describe(sel), dry_run: req.dry_run, messages: count.messages, recipients: count.recipients, by, ...(req.pool ? { pool: req.pool } : {}), ...(req.duration ? { duration_s: req.duration / 1000 } : {}) };
    this.deps.log.warn(line, `queue ${action}${req.dry_run ? ' (dry run)' : ''}: ${describe(sel)}`);
    this.deps.publish({ event: 'queue_action', at: new Date(this.deps.clock.now()).toISOString(), node: this.deps.node, action, selector: sel, dry_run: req.dry_run, messages: count.messages, recipients: count.recipients, pool: req.pool, duration_s: req.duration === null ? null : req.duration / 1000, by });
    return count;
  }

  private async apply(action: QueueAction, req: ActionRequest, sel: Selector, matched: Entry[], by: string): Promise<void> {
    const s = this.deps.scheduler;
    const until = req.duration === null ? null : this.deps.clock.now() + req.duration;
    switch (action) {
      case 'hold':
        await s.rules.add('hold', sel, until, by);
        s.ops.holdEntries(matched);
        this.armRules();
        return;
      case 'lift':
        await s.rules.lift('hold', sel, req.all && isEmpty(req.selector));
        s.ops.release();
        return;
      case 'retry':
        s.retry(matched);
        return;
      case 'bounce':
        this.ending(action, sel, s.ops.end(matched, ADMIN_BOUNCE));
        return;
      case 'cancel':
        this.ending(action, sel, s.ops.end(matched, { state: 'cancelled', response: localResponse(550, '5.0.0', 'cancelled by an operator (reason: admin)') }));
        return;
      case 'rebind':
        await s.rules.add('rebind', sel, until, by, req.pool ?? undefined);
        s.ops.reroute(matched);
        this.armRules();
        return;
    }
  }

  /**
   * A bounce or cancel answers once its mail is taken out of the queues (the counts are
   * what it matched); its recipients are ended in turns after that (queue-ops.ts), and
   * this line says when all were, or how many were left queued to repeat it on.
   */
  private ending(action: QueueAction, sel: Selector, run: Promise<EndingReport>): void {
    const started = this.deps.clock.now();
    run.then(
      (r) => {
        const line = { event: 'queue_action_done', action, selector: describe(sel), recipients: r.ended, left: r.left, seconds: (this.deps.clock.now() - started) / 1000 };
        if (r.left > 0) this.deps.log.warn(line, `queue ${action}: ${r.ended} recipients ended, ${r.left} left queued (repeat the action for them)`);
        else this.deps.log.info(line, `queue ${action}: done, ${r.ended} recipients ended`);
      },
      (err: unknown) => this.deps.log.error({ err, event: 'queue_action_failed', action, selector: describe(sel) }, `queue ${action} failed; what was not ended stays queued (repeat the action)`),
    );
  }

  private armRules(): void {
    if (this.ruleTimer) clearTimeout(this.ruleTimer);
    const next = this.deps.scheduler.rules.nextExpiry();
    if (next === null) return;
    this.ruleTimer = setTimeout(() => {
      const gone = this.deps.scheduler.rules.prune();
      const released = this.deps.scheduler.ops.release();
      for (const r of gone) this.deps.log.info({ event: 'queue_rule_lapsed', rule: r.id, what: ruleText(r), released }, 'queue rule lapsed');
      this.armRules();
    }, Math.max(0, next - this.deps.clock.now()) + 5);
    this.ruleTimer.unref();
  }

  private row(e: Entry): MessageRow {
    const now = this.deps.clock.now();
    return {
      queue_id: e.id,
      node: this.deps.node,
      domain: e.domain,
      recipients: e.rcpts,
      sender: e.sender,
      campaign: e.campaign,
      class: e.cls,
      pool: e.pool,
      provider: e.provider,
      source: e.source,
      state: e.state,
      attempts: e.attempts,
      last_reply: e.lastReply,
      next_attempt: e.nextAt > 0 && (e.state === 'deferred' || e.state === 'scheduled') ? new Date(e.nextAt).toISOString() : null,
      age_s: Math.max(0, Math.floor((now - e.receivedAt) / 1000)),
    };
  }
}

