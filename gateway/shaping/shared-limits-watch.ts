/**
 * Tells ops when the limits stop being shared (Redis unreachable or hanging: each node
 * delivers within its own share of every fleet limit and defers recipients it cannot
 * check against suppression) and when they are shared again. One log line per change,
 * `state_degraded` / `state_restored`; /readyz and metrics read `degraded()` themselves.
 */
import type { Logger } from '../observe/logger.js';

export interface DegradableState {
  degraded(): boolean;
}

export class SharedLimitsWatch {
  private timer: NodeJS.Timeout | null = null;
  private wasDegraded = false;
  private since = 0;

  constructor(
    private readonly state: DegradableState,
    private readonly log: Logger,
    private readonly now: () => number,
    /** Extra fields for the degraded line, e.g. the fleet size the shares divide by. */
    private readonly detail: () => object = () => ({}),
  ) {}

  start(everyMs = 500): void {
    this.check();
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  check(): void {
    const degraded = this.state.degraded();
    if (degraded === this.wasDegraded) return;
    this.wasDegraded = degraded;
    if (degraded) {
      this.since = this.now();
      this.log.warn({ event: 'state_degraded', ...this.detail() }, 'shared state (redis) unavailable: delivering within this node\'s share of each limit; recipients that cannot be checked against suppression are deferred');
    } else {
      this.log.info({ event: 'state_restored', degraded_ms: this.now() - this.since }, 'shared state (redis) back: shared limits again');
    }
  }
}
