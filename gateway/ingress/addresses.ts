/**
 * Envelope addresses as the client wrote them (RFC 5321 §4.1.2). The mailbox syntax
 * itself is config/mailbox.ts, shared with the config checks.
 */
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { replies, type SmtpReply } from './replies.js';
import { commandBytes } from './smtp-guards.js';

/**
 * The address in a MAIL or RCPT command line as the client wrote it (without the
 * source route smtp-server drops too, RFC 5321 §4.1.2), or null when it is not there.
 * smtp-server hands on its own version, with xn-- labels turned into Unicode and IPv6
 * literals rewritten; a relay must pass on what it was given (RFC 5321 §2.3.11).
 */
export function addressInLine(line: Buffer): string | null {
  const text = line.toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const first = text.slice(colon + 1).trim().split(/\s+/)[0] ?? '';
  if (!/^<[^<>]*>$/.test(first)) return null;
  return first.slice(1, -1).replace(/^@[^\s,:@]+(?:,@[^\s,:@]+)*:/, '');
}

/** True when the address has a character outside US-ASCII (it needs SMTPUTF8, RFC 6531 §3.4). */
export function isNonAscii(address: string): boolean {
  return /[^\u0000-\u007f]/.test(address);
}

/**
 * Puts back the address as the client wrote it (smtp-server hands on its own version)
 * and refuses a non-ASCII one in a transaction without SMTPUTF8 (RFC 6531 §3.4, §3.7.4.1):
 * it is never upgraded or rewritten behind the client's back.
 */
export function exactAddress(address: SMTPServerAddress, session: SMTPServerSession, which: 'sender' | 'recipient'): SmtpReply | null {
  const line = commandBytes(session);
  const raw = line ? addressInLine(line) : null;
  if (raw !== null) address.address = raw;
  if (isNonAscii(address.address) && !session.envelope.smtpUtf8) return replies.nonAsciiAddress(which);
  return null;
}

/**
 * One entry per recipient, compared without case as smtp-server does: it dedupes on its
 * own version of the address, which exactAddress and the postmaster rewrite replace, so
 * "a@xn--mller-kva.de" twice would otherwise be two recipients.
 */
export function dedupeRecipients(session: SMTPServerSession): void {
  const seen = new Set<string>();
  const list = session.envelope.rcptTo;
  const unique = list.filter((r) => {
    const key = r.address.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (unique.length !== list.length) list.splice(0, list.length, ...unique);
}
