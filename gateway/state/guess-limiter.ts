/**
 * Guessing limits over the FailureLimitStore, for SMTP AUTH and for admin tokens (each
 * its own `scope`, so one never locks the other). An attempt is charged before the
 * credentials are checked: parallel sessions on any node count against one number,
 * and a key out of attempts is refused outright, right password or not, until its
 * lock-out ends (a delay alone does not hold against parallel sessions).
 *
 * A right guess gives back only its own charge: it does not wipe the failures of its
 * IP or of any account (another account logging in from the same IP, or the same
 * account logging in elsewhere, leaves every earlier wrong guess counted).
 */
import { createHash } from 'node:crypto';
import type { FailureClaim, FailureLimitStore } from './types.js';

export interface GuessLimits {
  /** Failed attempts per window and lock-out, per kind of key ("ip", "account"…). */
  readonly [kind: string]: { readonly limit: number; readonly windowMs: number; readonly lockoutMs: number };
}

export type GuessAttempt =
  | { readonly ok: true; settle(success: boolean): Promise<void> }
  | { readonly ok: false; readonly retryAfterMs: number };

export interface GuessCounters {
  /** A wrong guess (counted). */
  failed(): void;
  /** An attempt refused without checking, over a limit. */
  refused(): void;
}

/** Longest account or client name kept as a key as is; longer ones are hashed. */
const MAX_KEY_PART = 128;

export class GuessLimiter {
  readonly #store: FailureLimitStore;
  readonly #scope: string;
  readonly #limits: () => GuessLimits;
  readonly #counters: GuessCounters | undefined;

  constructor(store: FailureLimitStore, scope: string, limits: () => GuessLimits, counters?: GuessCounters) {
    this.#store = store;
    this.#scope = scope;
    this.#limits = limits;
    this.#counters = counters;
  }

  /** Charges one attempt to each (kind, value): e.g. { ip: "192.0.2.7", account: "app1" }. */
  async begin(parts: Readonly<Record<string, string>>): Promise<GuessAttempt> {
    const limits = this.#limits();
    const claims: FailureClaim[] = [];
    for (const [kind, value] of Object.entries(parts)) {
      const limit = limits[kind];
      if (limit === undefined) continue;
      claims.push({ key: `${this.#scope}:${kind}:${keyPart(value)}`, limit: limit.limit, windowMs: limit.windowMs, lockoutMs: limit.lockoutMs });
    }
    const result = await this.#store.attempt(claims);
    if (!result.ok) {
      this.#counters?.refused();
      return result;
    }
    return {
      ok: true,
      settle: async (success) => {
        if (!success) {
          this.#counters?.failed();
          return;
        }
        await this.#store.refund(claims.map((c) => c.key));
      },
    };
  }
}

/** Bounded, case-folded: "App1" and "app1" share one count; a 10 000-character name is one short key. */
function keyPart(value: string): string {
  const folded = value.normalize('NFKC').trim().toLowerCase();
  if (folded.length <= MAX_KEY_PART && !/[\u0000-\u001f]/.test(folded)) return folded;
  return `#${createHash('sha256').update(folded).digest('hex').slice(0, 32)}`;
}
