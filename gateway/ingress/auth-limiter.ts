/**
 * Failed-login limits, which smtp-server does not have: a session is closed after
 * `max_auth_failures`; a client address with more than `auth_failure_limit` failures in
 * `auth_failure_window` gets its AUTH replies delayed (doubling, up to 10 s) so guessing
 * is slow, while a right password still works. Memory is bounded.
 */
import type { Clock } from '../state/types.js';

const MAX_TRACKED = 50_000;
const MAX_DELAY_MS = 10_000;

export class AuthLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** How long to hold this address's next AUTH reply. */
  delayFor(address: string): number {
    const recent = this.recent(address);
    const excess = recent.length - this.limit;
    if (excess < 0) return 0;
    return Math.min(MAX_DELAY_MS, 250 * 2 ** Math.min(excess, 6));
  }

  fail(address: string): void {
    const recent = this.recent(address);
    recent.push(this.clock.now());
    if (recent.length > this.limit * 4) recent.splice(0, recent.length - this.limit * 4);
    if (!this.failures.has(address) && this.failures.size >= MAX_TRACKED) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(address, recent);
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  private recent(address: string): number[] {
    const cutoff = this.clock.now() - this.windowMs;
    return (this.failures.get(address) ?? []).filter((t) => t > cutoff);
  }
}
