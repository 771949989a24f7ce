/**
 * Delivery status notifications (RFC 3464): a multipart/report to the envelope sender
 * when recipients bounce or expire. Never sent for the null sender (RFC 5321 §4.5.5),
 * so a bounce never bounces.
 */
import { randomBytes } from 'node:crypto';
import type { Envelope } from '../spool/types.js';
import type { Response } from '../delivery/response.js';
import { formatResponse } from '../delivery/response.js';

export interface FailedRecipient {
  readonly rcpt: string;
  readonly response: Response | null;
  readonly action: 'failed' | 'delayed';
  readonly remoteMta: string | null;
}

const MAX_RETURNED_HEADERS = 64 * 1024;

export function buildDsn(opts: {
  readonly original: Envelope;
  readonly originalMessage: Buffer | null;
  readonly failed: readonly FailedRecipient[];
  readonly hostname: string;
  readonly now: Date;
}): Buffer | null {
  const { original, failed, hostname, now } = opts;
  if (original.mailFrom === '' || original.isDsn || failed.length === 0) return null;
  const boundary = `=_sluice_${randomBytes(12).toString('hex')}`;
  const date = now.toUTCString().replace('GMT', '+0000');
  const human = failed
    .map((f) => `  <${f.rcpt}>\r\n    ${f.action === 'failed' ? (f.response?.enhanced === '4.4.7' ? 'could not be delivered in time' : 'could not be delivered') : 'is delayed'}: ${f.response ? formatResponse(f.response) : 'no reply'}`)
    .join('\r\n');
  const perRcpt = failed
    .map((f) => {
      const status = f.response?.enhanced ?? (f.response && f.response.code >= 500 ? '5.0.0' : '4.0.0');
      const lines = [`Final-Recipient: rfc822; ${f.rcpt}`, `Action: ${f.action}`, `Status: ${status}`];
      if (f.remoteMta) lines.push(`Remote-MTA: dns; ${f.remoteMta}`);
      if (f.response && !f.response.local) lines.push(`Diagnostic-Code: smtp; ${formatResponse(f.response).replace(/[\r\n]+/g, ' ')}`);
      return lines.join('\r\n');
    })
    .join('\r\n\r\n');
  const headersOnly = opts.originalMessage ? originalHeaders(opts.originalMessage) : '';
  const text = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${original.mailFrom}>`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Date: ${date}`,
    `Message-ID: <${randomBytes(10).toString('hex')}.dsn@${hostname}>`,
    `Auto-Submitted: auto-replied`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is the mail system at ${hostname}.`,
    '',
    `Your message${original.messageId ? ` ${original.messageId}` : ''} (queue id ${original.id}) could not be delivered to:`,
    '',
    human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${hostname}`,
    `X-Sluice-Queue-ID: ${original.id}`,
    `Arrival-Date: ${new Date(original.receivedAt).toUTCString().replace('GMT', '+0000')}`,
    '',
    perRcpt,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    headersOnly.replace(/\r\n$/, ''),
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return Buffer.from(text, 'utf8');
}

function originalHeaders(message: Buffer): string {
  const end = message.indexOf('\r\n\r\n');
  const head = message.subarray(0, end < 0 ? Math.min(message.length, MAX_RETURNED_HEADERS) : Math.min(end + 2, MAX_RETURNED_HEADERS));
  return head.toString('latin1');
}
