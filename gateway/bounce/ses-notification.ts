/**
 * Amazon SES notifications mailed through SNS: a JSON document in the body
 * (`notificationType`: Bounce, Complaint or Delivery, as SES documents it in "Amazon SES
 * notification contents"), not a DSN. Read into the same shape as a DSN's recipients.
 */
import type { FeedbackReport } from './arf.js';
import type { DsnRecipient } from './delivery-status.js';

export type SesNotification =
  | { readonly kind: 'recipients'; readonly recipients: readonly DsnRecipient[]; readonly reportingMta: string | null }
  | { readonly kind: 'complaint'; readonly report: FeedbackReport };

export function parseSesNotification(text: string): SesNotification | null {
  const at = text.search(/\{\s*"notificationType"\s*:/);
  if (at < 0) return null;
  const end = text.lastIndexOf('}');
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text.slice(at, end + 1).replace(/\n/g, '')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const type = str(doc['notificationType']);
  const mail = (doc['mail'] ?? {}) as Record<string, unknown>;
  if (type === 'Bounce') {
    const b = (doc['bounce'] ?? {}) as Record<string, unknown>;
    const list = Array.isArray(b['bouncedRecipients']) ? (b['bouncedRecipients'] as Record<string, unknown>[]) : [];
    const recipients = list.filter((r) => typeof r['emailAddress'] === 'string').map((r) => ({
      recipient: String(r['emailAddress']),
      originalRecipient: null,
      action: typeof r['action'] === 'string' ? r['action'].toLowerCase() : 'failed',
      status: typeof r['status'] === 'string' ? r['status'] : null,
      diagnostic: typeof r['diagnosticCode'] === 'string' ? r['diagnosticCode'].replace(/^smtp;\s*/i, '') : `${str(b['bounceType'])} ${str(b['bounceSubType'])}`.trim(),
      remoteMta: null,
    }));
    return { kind: 'recipients', recipients, reportingMta: typeof b['reportingMTA'] === 'string' ? b['reportingMTA'].replace(/^dns;\s*/i, '') : null };
  }
  if (type === 'Delivery') {
    const d = (doc['delivery'] ?? {}) as Record<string, unknown>;
    const list = Array.isArray(d['recipients']) ? (d['recipients'] as unknown[]).filter((r): r is string => typeof r === 'string') : [];
    const reply = typeof d['smtpResponse'] === 'string' ? d['smtpResponse'] : '';
    const status = /\b2\.\d{1,3}\.\d{1,3}\b/.exec(reply)?.[0] ?? '2.0.0';
    return { kind: 'recipients', recipients: list.map((r) => ({ recipient: r, originalRecipient: null, action: 'delivered', status, diagnostic: reply, remoteMta: null })), reportingMta: typeof d['reportingMTA'] === 'string' ? d['reportingMTA'] : null };
  }
  if (type === 'Complaint') {
    const c = (doc['complaint'] ?? {}) as Record<string, unknown>;
    const who = Array.isArray(c['complainedRecipients']) ? (c['complainedRecipients'] as Record<string, unknown>[]).map((r) => str(r['emailAddress'])).filter((a) => a.includes('@')) : [];
    const report: FeedbackReport = {
      feedbackType: typeof c['complaintFeedbackType'] === 'string' ? c['complaintFeedbackType'].toLowerCase() : 'abuse',
      userAgent: typeof c['userAgent'] === 'string' ? c['userAgent'] : 'Amazon SES',
      version: null,
      originalMailFrom: typeof mail['source'] === 'string' ? mail['source'] : null,
      originalRcptTo: who,
      arrivalDate: typeof c['arrivalDate'] === 'string' ? c['arrivalDate'] : null,
      sourceIp: typeof mail['sourceIp'] === 'string' ? mail['sourceIp'] : null,
      reportedDomains: [],
      reporter: null,
      original: null,
    };
    return { kind: 'complaint', report };
  }
  return null;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
