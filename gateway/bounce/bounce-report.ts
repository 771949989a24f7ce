/**
 * A parsed message (bounce-parse.ts) through the classifier (classify.ts): one row per
 * recipient it reports, in its order. A feedback report, an auto-reply and a message that
 * is no bounce give one row each, so that every message accounts for itself.
 */
import type { ParsedMessage } from './bounce-parse.js';
import type { BounceClassifier } from './classify.js';
import type { BounceReason } from './reasons.js';

export interface ClassifiedRecipient {
  readonly recipient: string;
  readonly status: string | null;
  readonly replyCode: number | null;
  readonly reason: BounceReason;
  readonly hard: boolean;
  readonly diagnostic: string;
  readonly action: string | null;
  readonly remoteMta: string | null;
  /** The rule that decided ("file:line"), null when none did. */
  readonly rule: string | null;
}

export function classifyParsed(parsed: ParsedMessage, classifier: BounceClassifier): ClassifiedRecipient[] {
  switch (parsed.kind) {
    case 'feedback': {
      const r = parsed.report;
      const who = r.originalRcptTo.length > 0 ? r.originalRcptTo : [r.original?.to[0] ?? ''];
      return who.map((rcpt) => row(rcpt, 'feedback', `feedback report: ${r.feedbackType}${r.userAgent ? ` (${r.userAgent})` : ''}`));
    }
    case 'auto-reply':
      return [row(parsed.from ?? '', 'vacation', parsed.subject ?? 'auto-reply')];
    case 'not-bounce':
      return [row('', 'undefined', parsed.subject ?? '')];
    case 'bounce':
      return parsed.recipients.map((r) => {
        const c = classifier.classify({ status: r.status, replyCode: r.replyCode, diagnostic: r.diagnostic, action: r.action, host: r.remoteMta ?? parsed.reportingMta, command: r.command, context: r.context, headers: parsed.headers, recipient: r.recipient });
        return { recipient: r.recipient, status: c.status, replyCode: r.replyCode, reason: c.reason, hard: c.hard, diagnostic: r.diagnostic, action: r.action, remoteMta: r.remoteMta, rule: c.rule };
      });
  }
}

function row(recipient: string, reason: BounceReason, diagnostic: string): ClassifiedRecipient {
  return { recipient, status: null, replyCode: null, reason, hard: false, diagnostic, action: null, remoteMta: null, rule: null };
}
