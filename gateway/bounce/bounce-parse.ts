/**
 * What a message mailed back to us is: a bounce (an RFC 3464 DSN, or one of the text forms
 * real MTAs send), a feedback report (ARF, RFC 5965), an auto-reply (RFC 3834: not a
 * bounce), or none of these. For a bounce: each recipient it reports, in its order, with the
 * codes and the text about it, and the headers of the returned message (to tie it to ours).
 * MIME is postal-mime's work; line ends may be LF, CRLF or CR.
 */
import PostalMime from 'postal-mime';
import type { Attachment, Email, Header } from 'postal-mime';
import { parseArf, type FeedbackReport } from './arf.js';
import { findCodes, findCommand, sessionRefusal, transcriptCommand, unfoldReply } from './codes.js';
import { address, parseDeliveryStatus, type DeliveryStatus, type DsnRecipient } from './delivery-status.js';
import { parseSesNotification } from './ses-notification.js';
import { addressesIn, explanation, oneLine, recipientsFromText } from './text-bounce.js';

export interface ReportedRecipient {
  readonly recipient: string;
  readonly status: string | null;
  readonly replyCode: number | null;
  /** What the failing server said about this recipient, on one line. */
  readonly diagnostic: string;
  readonly action: string | null;
  readonly remoteMta: string | null;
  /** The SMTP command the failure answered (CONN, EHLO, MAIL, RCPT, DATA), when the bounce says. */
  readonly command: string | null;
  /** The bounce's whole explanation (and subject): classified when the diagnostic says too little. */
  readonly context: string;
}

export interface ReturnedHeaders {
  readonly messageId: string | null;
  readonly received: readonly string[];
  readonly fbl: readonly string[];
  readonly to: readonly string[];
  readonly from: string | null;
}

export type ParsedMessage =
  | {
      readonly kind: 'bounce';
      readonly recipients: readonly ReportedRecipient[];
      readonly reportingMta: string | null;
      readonly returned: ReturnedHeaders | null;
      readonly from: string | null;
      readonly subject: string | null;
      /** The bounce's own header section, one field a line: which software or service wrote it. */
      readonly headers: string;
    }
  | { readonly kind: 'feedback'; readonly report: FeedbackReport }
  | { readonly kind: 'auto-reply'; readonly from: string | null; readonly subject: string | null }
  | { readonly kind: 'not-bounce'; readonly from: string | null; readonly subject: string | null };

const OPTIONS = { maxNestingDepth: 20, maxHeadersSize: 1024 * 1024, maxRfc822NestingDepth: 0 } as const;
const STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status', 'text/delivery-status']);
const RETURNED_TYPES = new Set(['message/rfc822', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global', 'message/global-headers']);
const BOUNCE_FROM = /mailer-daemon|post_?master|mail ?delivery|delivery ?(subsystem|system|notification)|mail ?administrator|mailer|daemon|bounce/i;
const BOUNCE_SUBJECT = /undeliver|undelivered|delivery (status|failure|failed|notification|problem|report|error)|returned mail|failure notice|mail delivery|could not (be )?deliver|non[- ]?delivery|not delivered|warning: could not|returned to sender|unable to deliver|delivery has failed|delivery failure|mail failure|failed delivery|error sending|message (not delivered|rejected|bounced)/i;

/** What the explanation of a bounce says when neither its From nor its Subject says it (a provider's no-reply address, a subject in another language). */
const BOUNCE_TEXT = /could not be delivered to:|(following|these) (address(es)?|recipients?) (had (permanent )?(fatal )?(delivery )?(errors|problems)|failed)|delivery to the following recipients? failed|error message below:/i;

export async function parseBounceMessage(raw: Buffer, depth = 0): Promise<ParsedMessage> {
  // A Content-Type whose parameters went on an unindented line (some gateways fold without
  // the white space RFC 5322 §2.2.3 needs): the parameter line is a continuation, not a field.
  const bytes = Buffer.from(raw.toString('latin1').replace(/\r\n?/g, '\n').replace(/^(content-type:[^\n]*;[ \t]*)\n(?=(boundary|charset|report-type)=)/gim, '$1\n\t'), 'latin1');
  const email = await PostalMime.parse(bytes, OPTIONS);
  const from = email.from?.address ?? null;
  const subject = email.subject ?? null;
  if (email.attachments.some((a) => a.mimeType === 'message/feedback-report')) {
    const arf = await parseArf(bytes);
    if (arf.kind === 'report') return { kind: 'feedback', report: arf.report };
  }
  // A body postal-mime could not split (no MIME header, a boundary it rejects): read it as text.
  const text = email.attachments.length === 0 && bodyText(email).trim() === '' ? rawBody(bytes) : bodyText(email);
  const ses = parseSesNotification(text);
  if (ses?.kind === 'complaint') return { kind: 'feedback', report: ses.report };
  const { human, rest } = explanation(text);
  const returned = await returnedHeaders(email.attachments, rest);
  const context = oneLine(`${subject ?? ''} ${human}`);
  // Every delivery-status part, in order: a message may carry more than one report.
  const statusParts = email.attachments.filter((a) => STATUS_TYPES.has(a.mimeType));
  const statusPart = statusParts[0];
  const dsn = ses ? ses : statusPart ? allReports(statusParts.map((p) => parseDeliveryStatus(decode(p.content)))) : /^(final|original)-recipient\s*:/im.test(text) ? parseDeliveryStatus(text) : null;
  const exclude = senderSide(email, returned);
  if (dsn && dsn.recipients.length > 0) {
    const blocks = recipientsFromText(human, dsn.recipients.map((r) => r.recipient), new Set());
    const recipients = dsn.recipients.map((r, i) => fromDsn(r, blocks[i]?.diagnostic ?? '', context, human));
    return { kind: 'bounce', recipients, reportingMta: dsn.reportingMta, returned, from, subject, headers: headerSection(bytes) };
  }
  const failed = (header(email.headers, 'x-failed-recipients') ?? '').split(',').map((a) => address(a.trim())).filter((a): a is string => a !== null);
  // A vacation program's own fields say what it is before any guess from From or Subject
  // does (an out-of-office reply from a "postmaster" or "mailer" address is still one).
  if (failed.length === 0 && statusPart === undefined && autoReplyFields(email.headers)) return { kind: 'auto-reply', from, subject };
  const looksBounce = failed.length > 0 || BOUNCE_FROM.test(header(email.headers, 'from') ?? '') || BOUNCE_SUBJECT.test(subject ?? '') || statusPart !== undefined || BOUNCE_TEXT.test(human);
  if (looksBounce) {
    let found = recipientsFromText(human, failed, exclude);
    if (found.length === 0) found = [{ recipient: returned?.to[0] ?? '', diagnostic: '' }];
    const recipients = found.map((t) => fromText(t.recipient, t.diagnostic || oneLine(human), context, human, found.length === 1));
    return { kind: 'bounce', recipients, reportingMta: null, returned, from, subject, headers: headerSection(bytes) };
  }
  if (isAutoReply(email.headers, subject)) return { kind: 'auto-reply', from, subject };
  // A bounce forwarded as an attachment (a person or a system passing it on).
  const inner = email.attachments.find((a) => a.mimeType === 'message/rfc822');
  if (inner && depth < 2) {
    const nested = await parseBounceMessage(Buffer.from(decode(inner.content), 'latin1'), depth + 1);
    if (nested.kind !== 'not-bounce') return nested;
  }
  return { kind: 'not-bounce', from, subject };
}

function allReports(reports: readonly DeliveryStatus[]): DeliveryStatus {
  return { reportingMta: reports.find((r) => r.reportingMta !== null)?.reportingMta ?? null, recipients: reports.flatMap((r) => r.recipients) };
}

function fromDsn(r: DsnRecipient, block: string, context: string, human: string): ReportedRecipient {
  const diagnostic = unwrapReply(unfoldReply(oneLine(r.diagnostic ?? block)));
  const codes = findCodes(lastQuotedReply(diagnostic) ?? diagnostic);
  const blockCodes = codes.status === null && codes.replyCode === null ? findCodes(block) : codes;
  // The code in the server's own words is more precise than the Status field the reporting MTA derived.
  const said = codes.status ?? (r.diagnostic === null ? blockCodes.status : null);
  const status = said !== null && (r.status === null || said[0] === r.status[0]) ? said : r.status;
  return { recipient: r.recipient, status, replyCode: codes.replyCode ?? blockCodes.replyCode, diagnostic, action: r.action, remoteMta: r.remoteMta, command: findCommand(diagnostic) ?? transcriptCommand(human, r.recipient) ?? findCommand(block), context };
}

/**
 * Amazon SES words a remote refusal as its own category around the server's reply:
 * "5.1.0 - Unknown address error 550-'5.7.1 <a@b>... Access denied' (delivery attempts: 0)".
 * The server's reply is what happened; the category is SES's guess from the code class.
 */
function unwrapReply(diagnostic: string): string {
  const m = /^[245]\.\d{1,3}\.\d{1,3} - [^']*?([45]\d\d)[ -]'(.+)'\s*(\(delivery attempts: \d+\))?\s*$/.exec(diagnostic);
  return m ? `${m[1] as string} ${m[2] as string}` : diagnostic;
}

/**
 * A relay's own failure text ending with the last remote reply in angle brackets
 * ("554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed
 * out>"): the codes of that reply are what the remote server said.
 */
function lastQuotedReply(diagnostic: string): string | null {
  return /<([45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b[^<>]*)>\s*$/.exec(diagnostic)?.[1] ?? null;
}

function fromText(recipient: string, text: string, context: string, human: string, only: boolean): ReportedRecipient {
  // Sendmail: the session was refused before this recipient was named; that reply is the cause.
  const refused = sessionRefusal(human, recipient);
  if (refused) {
    const codes = findCodes(refused.reply);
    return { recipient, status: codes.status, replyCode: codes.replyCode, diagnostic: oneLine(refused.reply), action: null, remoteMta: null, command: refused.command, context };
  }
  let diagnostic = unfoldReply(text);
  let codes = findCodes(diagnostic);
  // The only recipient of a bounce whose reply is written above the line naming it ("Error
  // message below: 550 ..." then "RCPT TO: who"): the explanation's reply is about it.
  if (only && codes.status === null && codes.replyCode === null) {
    const whole = unfoldReply(oneLine(human));
    const all = findCodes(whole);
    if (all.status !== null || all.replyCode !== null) {
      codes = all;
      diagnostic = whole;
    }
  }
  return { recipient, status: codes.status, replyCode: codes.replyCode, diagnostic, action: null, remoteMta: null, command: findCommand(diagnostic) ?? transcriptCommand(human, recipient), context };
}

/** The text parts; for HTML-only bounces the HTML without its tags. */
function bodyText(email: Email): string {
  if (email.text && email.text.trim() !== '') return email.text;
  if (email.html) return email.html.replace(/<br\s*\/?>|<\/p>|<\/div>|<\/tr>/gi, '\n').replace(/<[^>]+>/g, ' ').replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return '';
}

async function returnedHeaders(attachments: readonly Attachment[], rest: string): Promise<ReturnedHeaders | null> {
  const part = attachments.find((a) => RETURNED_TYPES.has(a.mimeType));
  let source: string | null = part ? decode(part.content) : null;
  if (source === null && rest !== '') source = rest.slice(rest.search(/^[A-Za-z][A-Za-z0-9-]*:\s/m) >>> 0);
  if (source === null || source.trim() === '') return null;
  const head = source.split(/\n\s*\n/)[0] ?? '';
  const msg = await PostalMime.parse(`${head.replace(/^\s+/, '')}\n\n`, OPTIONS).catch(() => null);
  if (msg === null) return null;
  const all = (key: string) => msg.headers.filter((h) => h.key === key).map((h) => h.value);
  return {
    messageId: header(msg.headers, 'message-id'),
    received: all('received'),
    fbl: all('x-sluice-fbl'),
    to: (msg.to ?? []).flatMap((a) => (a.group ? a.group.map((m) => m.address) : [a.address])).filter((a) => a.includes('@')),
    from: msg.from?.address ?? address(header(msg.headers, 'return-path')),
  };
}

/** The sender's side: never a failed recipient. */
function senderSide(email: Email, returned: ReturnedHeaders | null): Set<string> {
  const out = new Set<string>();
  for (const a of email.to ?? []) if (a.address) out.add(a.address.toLowerCase());
  if (email.from?.address) out.add(email.from.address.toLowerCase());
  if (returned?.from) out.add(returned.from.toLowerCase());
  for (const key of ['return-path', 'reply-to', 'sender']) for (const a of addressesIn(header(email.headers, key) ?? '')) out.add(a.toLowerCase());
  return out;
}

/**
 * An auto-reply says nothing about the address (RFC 3834 §3.1.7: a response, not a
 * delivery report): its Auto-Submitted field (§5.2 "auto-replied"), the fields vacation
 * programs add, or an out-of-office subject as mail clients word it.
 */
function isAutoReply(headers: readonly Header[], subject: string | null): boolean {
  if ((header(headers, 'auto-submitted') ?? '').toLowerCase().startsWith('auto-replied')) return true;
  return autoReplyFields(headers) || AUTO_REPLY_SUBJECT.test(subject ?? '');
}

/**
 * X-Autoreply and X-Autorespond (vacation(1), procmail and webmail responders) and
 * `Precedence: auto_reply`. Not X-Auto-Response-Suppress: that asks others not to answer
 * automatically, and Exchange puts it on mail of every kind.
 */
function autoReplyFields(headers: readonly Header[]): boolean {
  if (header(headers, 'x-autoreply') !== null || header(headers, 'x-autorespond') !== null) return true;
  return /^auto_reply$/i.test(header(headers, 'precedence') ?? '');
}

/** Out-of-office subjects: the English forms and the prefixes Outlook writes in other languages. */
const AUTO_REPLY_SUBJECT = /^\s*(auto(matic|mated)?[- ]?(reply|response|answer)\b|out of (the )?office\b|auto:|vacation\b|away\b|on leave\b|abwesend|abwesenheitsnotiz|automatische antwort|r\u00e9ponse automatique|respuesta autom\u00e1tica|risposta automatica|automatisch antwoord)/i;

function header(headers: readonly Header[], key: string): string | null {
  const v = headers.find((h) => h.key === key)?.value.trim();
  return v === undefined || v === '' ? null : v;
}

/** The message's header section with folded fields unfolded: one field a line. */
function headerSection(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\n\n');
  return (end < 0 ? text : text.slice(0, end)).replace(/\n[ \t]+/g, ' ');
}

function rawBody(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\n\n');
  return end < 0 ? '' : text.slice(end + 2);
}

function decode(content: unknown): string {
  if (typeof content === 'string') return content;
  return Buffer.from(content as ArrayBuffer).toString('latin1');
}
