/**
 * Source health per (source, provider) ([pools.X.health]): every remote outcome is
 * counted in the state backend's rolling window (shared by the fleet on Redis); when the
 * bounce, deferral or complaint rate over the window passes its limit, with at least
 * `min_volume` outcomes, the source is held toward that provider for `hold_for` and its
 * mail rotates to the pool's other sources. After a hold the source is judged afresh:
 * on the outcomes this node counted since the hold ended (a source lives on one node,
 * so those are all of its outcomes), until a whole window has passed and the shared
 * counts no longer include the outcomes that caused the hold.
 */
import type { Config, PoolConfig } from '../config/schema.js';
import type { Response } from '../delivery/response.js';
import type { Clock, HealthCounts, HealthOutcome, StateBackend } from '../state/types.js';
import { formatDuration } from '../config/units.js';
import type { HoldCache } from './hold-cache.js';
import { keys } from './keys.js';
import type { AutoHolds } from './auto-holds.js';
import type { Logger } from '../observe/logger.js';

export type PoolHealth = NonNullable<PoolConfig['health']>;

const NONE: HealthCounts = { delivered: 0, deferred: 0, bounced: 0, complained: 0 };

/** What the monitor needs of an outcome (a queue Outcome fits). */
export interface HealthSample {
  readonly kind: string;
  readonly source: string | null;
  readonly provider: string | null;
  readonly pool: string | null;
  readonly response: Response | null;
}

export interface HealthVerdict {
  readonly reason: 'bounce_rate' | 'deferral_rate' | 'complaint_rate';
  readonly detail: string;
}

export interface HealthMonitorDeps {
  readonly config: Config;
  readonly state: StateBackend;
  readonly holds: HoldCache;
  readonly autoHolds: AutoHolds;
  readonly clock: Clock;
  readonly log: Logger;
}

interface Series {
  running: boolean;
  again: boolean;
  /** Outcomes counted here since the last hold of this series ended (`from`). */
  fresh: { from: number; counts: Record<HealthOutcome, number> } | null;
}

export class HealthMonitor {
  private readonly series = new Map<string, Series>();
  private recordFailing = false;

  constructor(private readonly deps: HealthMonitorDeps) {}

  /** Counts one outcome and, when its pool has [health], checks the rates. Never throws. */
  record(o: HealthSample): void {
    const outcome = healthOutcome(o);
    if (outcome === null || o.source === null || o.provider === null) return;
    const { source, provider } = o;
    this.countFresh(this.seriesOf(source, provider), keys.holdSourceProvider(source, provider), outcome);
    const stored = this.deps.state.health.record(source, provider, outcome).then(
      () => {
        this.recordFailing = false;
      },
      (err: unknown) => {
        if (!this.recordFailing) this.deps.log.warn({ err, source, provider }, 'health counters unavailable');
        this.recordFailing = true;
      },
    );
    const health = o.pool === null ? undefined : this.deps.config.pools[o.pool]?.health;
    if (health) void stored.then(() => this.evaluate(source, provider, health));
  }

  private seriesOf(source: string, provider: string): Series {
    const id = `${source}\u0000${provider}`;
    let s = this.series.get(id);
    if (!s) this.series.set(id, (s = { running: false, again: false, fresh: null }));
    return s;
  }

  /** Counts an outcome that came after the last hold of the series ended (not one in flight during it). */
  private countFresh(s: Series, scope: string, outcome: HealthOutcome): void {
    const end = this.deps.holds.endOf(scope);
    if (end === null || this.deps.clock.now() < end) return;
    if (s.fresh?.from !== end) s.fresh = { from: end, counts: { ...NONE } };
    s.fresh.counts[outcome]++;
  }

  /** One check at a time per series; outcomes that arrive meanwhile ask for one more. */
  private async evaluate(source: string, provider: string, health: PoolHealth): Promise<void> {
    const s = this.seriesOf(source, provider);
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    try {
      do {
        s.again = false;
        await this.check(source, provider, health, s);
      } while (s.again);
    } catch (err) {
      this.deps.log.warn({ err, source, provider }, 'health check failed');
    } finally {
      s.running = false;
    }
  }

  private async check(source: string, provider: string, health: PoolHealth, s: Series): Promise<void> {
    const scope = keys.holdSourceProvider(source, provider);
    if (this.deps.holds.held(scope)) return;
    const now = this.deps.clock.now();
    const end = this.deps.holds.endOf(scope);
    const sinceHold = end !== null && now - end < health.window;
    const windowMs = sinceHold ? now - end : health.window;
    const counts = sinceHold ? (s.fresh?.from === end ? s.fresh.counts : NONE) : await this.deps.state.health.counts(source, provider, windowMs);
    const verdict = judge(counts, health, windowMs);
    if (!verdict) return;
    this.deps.autoHolds.hold({ scope, source, provider, reason: verdict.reason, detail: verdict.detail, by: 'health', until: now + health.hold_for });
  }
}

/** Remote outcomes only: a local failure (DNS, our spool) says nothing about the source. */
function healthOutcome(o: HealthSample): HealthOutcome | null {
  const remote = o.response === null || !o.response.local;
  switch (o.kind) {
    case 'delivered':
      return 'delivered';
    case 'deferred':
      return remote ? 'deferred' : null;
    case 'bounced':
      return remote ? 'bounced' : null;
    case 'complained':
      return 'complained';
    default:
      return null;
  }
}

/** The first rate over its limit, or null; below `min_volume` outcomes nothing is judged. */
export function judge(c: HealthCounts, h: PoolHealth, windowMs: number): HealthVerdict | null {
  const total = c.delivered + c.deferred + c.bounced;
  if (total < h.min_volume) return null;
  const over = (n: number, of: number, max: number) => of > 0 && n / of > max;
  const span = formatDuration(Math.max(1, Math.round(windowMs / 1000)) * 1000);
  const say = (what: string, n: number, of: number, max: number, key: string) =>
    `${what} rate ${pct(n / of)} over ${key} ${pct(max)} (${n} of ${of} in the last ${span})`;
  if (over(c.bounced, total, h.max_bounce_rate)) return { reason: 'bounce_rate', detail: say('bounce', c.bounced, total, h.max_bounce_rate, 'max_bounce_rate') };
  if (over(c.complained, c.delivered, h.max_complaint_rate)) return { reason: 'complaint_rate', detail: say('complaint', c.complained, c.delivered, h.max_complaint_rate, 'max_complaint_rate') };
  if (over(c.deferred, total, h.max_deferral_rate)) return { reason: 'deferral_rate', detail: say('deferral', c.deferred, total, h.max_deferral_rate, 'max_deferral_rate') };
  return null;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}
