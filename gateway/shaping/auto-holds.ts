/**
 * Holds that shaping decides on its own (a response rule, the health monitor): sets
 * the hold, tells ops once (`source_held`, or `provider_held` for a whole provider), and
 * tells them again when the hold lapses (`source_lifted`, `provider_lifted`; before, all
 * were `source_paused` / `source_resumed`). A scope that is already held is left alone, so
 * two sessions that see the same 421 at once, or two nodes that see the same bounce rate,
 * hold it once.
 */
import type { Clock } from '../state/types.js';
import type { HoldCache } from './hold-cache.js';
import type { Logger } from '../observe/logger.js';


/** One hold as the log and the observer see it (fields match observe's HoldChange). */
export interface AutoHold {
  /** The hold scope, e.g. `source-provider:tx1:gmail`. */
  readonly scope: string;
  /** The source held, or "*" when the provider is held for every source. */
  readonly source: string;
  readonly provider: string | null;
  /** A short code: "provider_rule", "bounce_rate", "deferral_rate", "complaint_rate". */
  readonly reason: string;
  /** What happened, for people: the rule and reply, or the rate against its limit. */
  readonly detail: string;
  readonly by: string;
  readonly until: number | null;
}

export interface AutoHoldListener {
  held?(change: AutoHold): void;
  lapsed?(change: AutoHold): void;
}

export class AutoHolds {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly listeners: AutoHoldListener[] = [];

  constructor(
    private readonly holds: HoldCache,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  subscribe(listener: AutoHoldListener): void {
    this.listeners.push(listener);
  }

  /** Holds `change.scope` unless it is held already; true when this call held it. */
  hold(change: AutoHold): boolean {
    if (this.holds.held(change.scope)) return false;
    this.holds.set({ scope: change.scope, reason: `${change.reason}: ${change.detail}`, until: change.until, by: change.by }).catch((err: unknown) => {
      // HoldCache keeps it in force here and stores it once the backend answers again.
      this.log.warn({ err, scope: change.scope }, 'hold kept on this node only until the shared state answers');
    });
    this.log.warn({ event: change.source === '*' ? 'provider_held' : 'source_held', ...fields(change) }, `held ${change.scope}: ${change.detail}`);
    for (const l of this.listeners) l.held?.(change);
    if (change.until !== null) this.watch(change, change.until);
    return true;
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Says `source_lifted` (`provider_lifted`) when the hold has lapsed (again later if someone extended it). */
  private watch(change: AutoHold, until: number): void {
    const old = this.timers.get(change.scope);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(change.scope);
      const still = this.holds.held(change.scope);
      if (still?.until != null) return this.watch(change, still.until);
      if (still) return; // now held until lifted: whoever did that reports it
      if ((this.holds.endOf(change.scope) ?? until) < until) return; // lifted early (admin): the lifter reported it
      this.log.info({ event: change.source === '*' ? 'provider_lifted' : 'source_lifted', ...fields(change) }, `hold on ${change.scope} lapsed`);
      for (const l of this.listeners) l.lapsed?.(change);
    }, Math.max(0, until - this.clock.now()) + 5);
    t.unref();
    this.timers.set(change.scope, t);
  }
}

function fields(c: AutoHold) {
  return { scope: c.scope, source: c.source, provider: c.provider, reason: c.reason, detail: c.detail, by: c.by, until: c.until === null ? null : new Date(c.until).toISOString() };
}
