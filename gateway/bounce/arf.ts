/**
 * Feedback reports (ARF, RFC 5965): a `multipart/report; report-type=feedback-report`
 * with a human-readable part, a `message/feedback-report` part of header-like fields,
 * and the original message (`message/rfc822`) or its header (`text/rfc822-headers`).
 * The MIME work is postal-mime's; this file only reads the fields out of its result.
 */
import PostalMime, { addressParser } from 'postal-mime';
import type { Header } from 'postal-mime';

export interface FeedbackReport {
  /** Lower-cased Feedback-Type (RFC 5965 §3.1), e.g. "abuse". */
  readonly feedbackType: string;
  readonly userAgent: string | null;
  readonly version: string | null;
  readonly originalMailFrom: string | null;
  readonly originalRcptTo: readonly string[];
  readonly arrivalDate: string | null;
  readonly sourceIp: string | null;
  readonly reportedDomains: readonly string[];
  /** The report's own From address: who sent the report (feedback@arf.mail.yahoo.com). */
  readonly reporter: string | null;
  /** The header of the reported message, when the report carried it. */
  readonly original: OriginalHeaders | null;
}

export interface OriginalHeaders {
  get(name: string): string | null;
  getAll(name: string): string[];
  /** Addresses in To (mailboxes of groups included). */
  readonly to: readonly string[];
}

export type ArfResult =
  | { readonly kind: 'report'; readonly report: FeedbackReport }
  /** Not a feedback report at all (an enrolment confirmation, a person writing). */
  | { readonly kind: 'not-report'; readonly subject: string | null; readonly from: string | null }
  /** Says it is a feedback report but lacks what RFC 5965 requires. */
  | { readonly kind: 'malformed'; readonly reason: string; readonly from: string | null };

const OPTIONS = { maxNestingDepth: 20, maxHeadersSize: 1024 * 1024, maxRfc822NestingDepth: 0 } as const;

export async function parseArf(raw: Buffer): Promise<ArfResult> {
  let email: Awaited<ReturnType<typeof PostalMime.parse>>;
  try {
    email = await PostalMime.parse(raw, OPTIONS);
  } catch (err) {
    return { kind: 'malformed', reason: `not parseable as MIME: ${(err as Error).message}`, from: null };
  }
  const from = email.from?.address ?? null;
  const contentType = headerOf(email.headers, 'content-type') ?? '';
  const part = email.attachments.find((a) => a.mimeType === 'message/feedback-report');
  const claimsReport = /^\s*multipart\/report\s*;/i.test(contentType) && /report-type\s*=\s*"?feedback-report"?/i.test(contentType);
  if (!part) {
    if (claimsReport) return { kind: 'malformed', reason: 'multipart/report of type feedback-report without a message/feedback-report part', from };
    return { kind: 'not-report', subject: email.subject ?? null, from };
  }
  // The report part is a block of header fields (RFC 5965 §3.1): parse it as one.
  const fields = (await PostalMime.parse(`${text(part.content).replace(/^\s+/, '')}\r\n\r\n`, OPTIONS)).headers;
  const feedbackType = headerOf(fields, 'feedback-type')?.toLowerCase().trim() ?? '';
  if (!/^[a-z0-9-]+$/.test(feedbackType)) return { kind: 'malformed', reason: feedbackType === '' ? 'no Feedback-Type field' : `Feedback-Type "${feedbackType.slice(0, 40)}" is not a token`, from };
  const originalPart = email.attachments.find((a) => a.mimeType === 'message/rfc822' || a.mimeType === 'text/rfc822-headers' || a.mimeType === 'message/rfc822-headers');
  const original = originalPart ? await originalHeaders(originalPart.content) : null;
  return {
    kind: 'report',
    report: {
      feedbackType,
      userAgent: headerOf(fields, 'user-agent'),
      version: headerOf(fields, 'version'),
      originalMailFrom: angle(headerOf(fields, 'original-mail-from')),
      originalRcptTo: fields.filter((h) => h.key === 'original-rcpt-to').flatMap((h) => mailboxes(h.value)),
      arrivalDate: headerOf(fields, 'arrival-date') ?? headerOf(fields, 'received-date'),
      sourceIp: sourceIp(headerOf(fields, 'source-ip')),
      reportedDomains: fields.filter((h) => h.key === 'reported-domain').map((h) => h.value.trim().toLowerCase()),
      reporter: from,
      original,
    },
  };
}

async function originalHeaders(content: unknown): Promise<OriginalHeaders | null> {
  const bytes = typeof content === 'string' ? content : new Uint8Array(content as ArrayBuffer);
  try {
    const msg = await PostalMime.parse(bytes, OPTIONS);
    const headers = msg.headers;
    return {
      get: (name) => headerOf(headers, name.toLowerCase()),
      getAll: (name) => headers.filter((h) => h.key === name.toLowerCase()).map((h) => h.value),
      to: (msg.to ?? []).flatMap((a) => (a.group ? a.group.map((m) => m.address) : [a.address])).filter((a) => a.includes('@')),
    };
  } catch {
    return null;
  }
}

function headerOf(headers: readonly Header[], key: string): string | null {
  const v = headers.find((h) => h.key === key)?.value.trim();
  return v === undefined || v === '' ? null : v;
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  return Buffer.from(content as ArrayBuffer).toString('utf8');
}

function mailboxes(value: string): string[] {
  return addressParser(value, { flatten: true })
    .map((m) => m.address ?? '')
    .filter((a) => a.includes('@'));
}

function angle(value: string | null): string | null {
  if (value === null) return null;
  return mailboxes(value)[0] ?? (value.replace(/^<|>$/g, '').trim() || null);
}

/** Source-IP is an address (RFC 5965 §3.2); some reporters wrap it in brackets. */
function sourceIp(value: string | null): string | null {
  if (value === null) return null;
  const v = value.replace(/^\[|\]$/g, '').replace(/^IPv6:/i, '').trim();
  return /^[0-9a-fA-F:.]+$/.test(v) ? v.toLowerCase() : null;
}
