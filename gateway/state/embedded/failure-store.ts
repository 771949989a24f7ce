import { SluiceError } from '../../errors.js';
import type { AttemptResult, Clock, FailureClaim, FailureLimitStore } from '../types.js';

/** Keys kept at most; beyond it, keys that are neither locked nor counting go first. */
const MAX_KEYS = 100_000;

interface Entry {
  count: number;
  /** When the current window began (ms). */
  start: number;
  /** Locked until (ms); 0: not locked. */
  lock: number;
  /** When the entry stops mattering (window end or lock end). */
  expires: number;
}

/**
 * Guessing limits of a single node (and a cluster node's fallback while Redis is away):
 * a fixed window per key, as Postfix's anvil counts per time unit. Nothing is persisted:
 * a restart forgets the counts, which a guesser cannot cause.
 */
export class EmbeddedFailures implements FailureLimitStore {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async attempt(claims: readonly FailureClaim[]): Promise<AttemptResult> {
    const now = this.#clock.now();
    let refused = 0;
    const open: [FailureClaim, Entry][] = [];
    for (const claim of dedupe(claims)) {
      const entry = this.#entry(claim, now);
      if (entry.lock > now) {
        refused = Math.max(refused, entry.lock - now);
      } else if (entry.count >= claim.limit) {
        // Out of attempts: lock now; counting starts afresh when the lock ends.
        entry.lock = now + claim.lockoutMs;
        entry.count = 0;
        entry.start = entry.lock;
        entry.expires = entry.lock + claim.windowMs;
        refused = Math.max(refused, claim.lockoutMs);
      } else {
        open.push([claim, entry]);
      }
    }
    if (refused > 0) return { ok: false, retryAfterMs: refused };
    for (const [, entry] of open) entry.count++;
    return { ok: true };
  }

  async refund(keys: readonly string[]): Promise<void> {
    for (const key of new Set(keys)) {
      const entry = this.#entries.get(key);
      if (entry !== undefined && entry.count > 0) entry.count--;
    }
  }

  #entry(claim: FailureClaim, now: number): Entry {
    checkClaim(claim);
    let entry = this.#entries.get(claim.key);
    if (entry === undefined) {
      this.#makeRoom(now);
      entry = { count: 0, start: now, lock: 0, expires: now + claim.windowMs };
      this.#entries.set(claim.key, entry);
    } else if (entry.lock <= now && now >= entry.start + claim.windowMs) {
      entry.count = 0;
      entry.start = now;
      entry.expires = now + claim.windowMs;
    }
    return entry;
  }

  /** Bounded memory: expired keys go first, then the oldest that hold no lock. */
  #makeRoom(now: number): void {
    if (this.#entries.size < MAX_KEYS) return;
    for (const [key, entry] of this.#entries) if (entry.expires <= now) this.#entries.delete(key);
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size < MAX_KEYS) return;
      if (entry.lock <= now) this.#entries.delete(key);
    }
  }
}

function dedupe(claims: readonly FailureClaim[]): FailureClaim[] {
  return [...new Map(claims.map((c) => [c.key, c])).values()];
}

export function checkClaim(claim: FailureClaim): void {
  for (const [what, v] of [['limit', claim.limit], ['window', claim.windowMs], ['lockout', claim.lockoutMs]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new SluiceError('USAGE', `bad failure ${what} ${v} for ${claim.key}`);
  }
}
