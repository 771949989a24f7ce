/**
 * SMTP AUTH guessing limits from [relay]: per client IP and per account name (the
 * attempted user name, case-folded), shared by the fleet through the state seam
 * (state/guess-limiter.ts). The session limit (max_auth_failures) closes one session;
 * these hold across sessions, nodes and successes of other accounts.
 */
import type { Config } from '../config/schema.js';
import { GuessLimiter, type GuessCounters } from '../state/guess-limiter.js';
import type { FailureLimitStore } from '../state/types.js';

export type AuthLimiter = GuessLimiter;

export function smtpAuthLimiter(store: FailureLimitStore, config: () => Config, counters?: GuessCounters): AuthLimiter {
  return new GuessLimiter(
    store,
    'smtp',
    () => {
      const r = config().relay;
      return {
        ip: { limit: r.auth_failure_limit, windowMs: r.auth_failure_window, lockoutMs: r.auth_lockout },
        account: { limit: r.auth_account_failure_limit, windowMs: r.auth_failure_window, lockoutMs: r.auth_lockout },
      };
    },
    counters,
  );
}

/** Longest part of a client-supplied user name that goes into a log line. */
const LOGGED_NAME = 64;

/**
 * A user name as logged: at most 64 characters, anything outside printable ASCII
 * escaped, and the full length when cut, so a 10 000-character name cannot flood
 * the log nor forge a line.
 */
export function loggedName(name: string): { user: string; user_length?: number } {
  const head = [...name.slice(0, LOGGED_NAME)].map((ch) => (/^[\x20-\x7e]$/.test(ch) && ch !== '\\' ? ch : `\\u{${ch.codePointAt(0)?.toString(16)}}`)).join('');
  return name.length > LOGGED_NAME ? { user: `${head}...`, user_length: name.length } : { user: head };
}
