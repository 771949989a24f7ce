/**
 * The one bounce classifier: a remote MX's synchronous reply and a recipient of a parsed
 * bounce go through the same rules (rules.ts) to a reason, a hard/soft verdict and the
 * enhanced status to report. The first rule whose every criterion matches wins, so the
 * file's order is its precedence: specific codes, then texts, then code classes; the
 * [[fallback]] rules only when no rule matched the diagnostic or the explanation.
 */
import type { BounceReason } from './reasons.js';
import type { BounceRule, BounceRules } from './rules.js';

export interface BounceFacts {
  /** The enhanced status code found (RFC 3463), or null. */
  readonly status: string | null;
  readonly replyCode: number | null;
  /** What the failing server said about this recipient. */
  readonly diagnostic: string;
  /** The DSN Action field, when there is one. */
  readonly action?: string | null;
  /** The reporting or remote MTA's host name, for per-provider rules. */
  readonly host?: string | null;
  /** The SMTP command the failure answered: CONN, EHLO, MAIL, RCPT, DATA. */
  readonly command?: string | null;
  /** The bounce's own header section, one field a line (unfolded): who wrote it. */
  readonly headers?: string | null;
  /** The failed recipient's address. */
  readonly recipient?: string | null;
  /** More of the bounce (its whole explanation), tried when the diagnostic alone matches no rule. */
  readonly context?: string | null;
}

export interface Classification {
  readonly reason: BounceReason;
  /** The address itself is bad and the failure permanent: stop mailing it. */
  readonly hard: boolean;
  /** The enhanced status: the one found when it is specific, else the reason's. */
  readonly status: string | null;
  /** The rule that decided, as "file:line"; null when none did. */
  readonly rule: string | null;
}

export class BounceClassifier {
  constructor(readonly rules: BounceRules) {}

  classify(f: BounceFacts): Classification {
    const rule = this.#match(this.rules.rules, f, f.diagnostic) ?? (f.context ? this.#match(this.rules.rules, f, f.context) : null) ?? this.#match(this.rules.fallback, f, f.diagnostic);
    const reason: BounceReason = rule?.reason ?? 'undefined';
    const info = this.rules.reasons[reason];
    const klass = statusClass(f, info.status);
    // The code the bounce carries, even a generic x.0.0; the reason's own code only when it carries none.
    let status: string | null = f.status ?? (reason === 'undefined' ? null : `${klass}${info.status.slice(1)}`);
    if (status === null && f.replyCode !== null) status = `${String(f.replyCode)[0]}.0.0`;
    return { reason, hard: info.hard && klass !== '4', status, rule: rule?.at ?? null };
  }

  #match(rules: readonly BounceRule[], f: BounceFacts, text: string): BounceRule | null {
    for (const r of rules) {
      if (r.action !== null && r.action !== (f.action ?? '').toLowerCase()) continue;
      if (r.status !== null && !r.status.some((s) => statusMatches(s, f.status))) continue;
      if (r.replyCode !== null && (f.replyCode === null || !r.replyCode.includes(f.replyCode))) continue;
      if (r.command !== null && !r.command.includes(f.command ?? '')) continue;
      if (r.host !== null && !r.host.test(f.host ?? '')) continue;
      if (r.headers !== null && !r.headers.some((re) => re.test(f.headers ?? ''))) continue;
      if (r.recipient !== null && !r.recipient.test(f.recipient ?? '')) continue;
      if (r.text !== null && !r.text.some((re) => re.test(text))) continue;
      return r;
    }
    return null;
  }
}

function statusMatches(pattern: string, status: string | null): boolean {
  if (status === null) return false;
  const want = pattern.split('.');
  const got = status.split('.');
  return want.every((p, i) => p === '*' || p === got[i]);
}

/** 4 (transient) or 5 (permanent) or 2: from the code found, else the reply code, else the reason's. */
function statusClass(f: BounceFacts, fallback: string): string {
  if (f.status) return f.status[0] as string;
  if (f.replyCode !== null) return String(f.replyCode)[0] as string;
  return fallback[0] as string;
}
