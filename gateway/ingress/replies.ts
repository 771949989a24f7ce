/**
 * Every reply the ingress sends for its own reasons, in one place (after haraka-dsn's
 * named replies). The text starts with the enhanced code so smtp-guards keeps it exact.
 */
import type { LimitReason } from './client-limits.js';
import type { FeedbackReply } from '../bounce/feedback-loop.js';
export interface SmtpReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

export const replies = {
  relayDenied: { code: 550, enhanced: '5.7.1', text: 'Relaying denied: this client may not send through this server' },
  authRequired: { code: 530, enhanced: '5.7.0', text: 'Authentication required' },
  authFailed: { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  tooManyAuthFailures: { code: 421, enhanced: '4.7.0', text: 'Too many failed logins, closing connection' },
  /** RFC 4954 §6 (454 4.7.0, temporary), as Postfix words it: this client IP or account is locked out. */
  authLockedOut: { code: 454, enhanced: '4.7.0', text: 'Too many failed authentication attempts, try again later' },
  /** RFC 4954 §6: the limits could not be checked, so the password is not either. */
  authUnavailable: { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure, try again later' },
  /** RFC 3207 §4: a command that needs TLS, before STARTTLS. */
  tlsRequired: { code: 530, enhanced: '5.7.0', text: 'Must issue a STARTTLS command first' },
  /** RFC 5321 §4.2.4: this listener has no TLS (tls = "none"), so it does not run STARTTLS. */
  tlsNotAvailable: { code: 502, enhanced: '5.5.1', text: 'STARTTLS not available on this listener' },
  tooBig: (limit: number): SmtpReply => ({ code: 552, enhanced: '5.3.4', text: `Message size exceeds fixed maximum message size of ${limit} bytes` }),
  badLineEndings: { code: 550, enhanced: '5.5.2', text: 'Message contains bare <CR>, bare <LF> or NUL; lines must end in <CR><LF>' },
  localError: { code: 451, enhanced: '4.3.0', text: 'Local error in processing, try again later' },
  shuttingDown: { code: 421, enhanced: '4.3.2', text: 'Service shutting down, try again later' },
  draining: { code: 421, enhanced: '4.3.2', text: 'Node draining for maintenance, try another node' },
  lowDisk: { code: 452, enhanced: '4.3.1', text: 'Insufficient system storage, try again later' },
  badAddress: (which: 'sender' | 'recipient'): SmtpReply => ({ code: 553, enhanced: which === 'sender' ? '5.1.7' : '5.1.3', text: `Bad ${which} address syntax` }),
  feedbackSeparately: { code: 452, enhanced: '4.5.3', text: 'Feedback reports and other mail go in separate transactions: send this recipient again in a new one' },
  // RFC 6531 §3.7.4.1: a non-ASCII address in a transaction without SMTPUTF8.
  nonAsciiAddress: (which: 'sender' | 'recipient'): SmtpReply => ({ code: 553, enhanced: '5.6.7', text: `Non-ASCII addresses not permitted for that ${which} without SMTPUTF8` }),
  tooManyHops: { code: 554, enhanced: '5.4.6', text: 'Too many hops (mail loop?)' },
  postmasterSeparately: { code: 452, enhanced: '4.5.3', text: 'Mail for the postmaster and other mail go in separate transactions: send this recipient again in a new one' },
  noRecipients: { code: 554, enhanced: '5.5.1', text: 'No valid recipients' },
} as const;

/**
 * The replies that end a session at a client limit (client-limits.ts). 4.7.0 is a
 * security policy reason (RFC 3463 §3.8), 4.4.2 a connection timed out (§3.5); all are
 * 421 because the session is closed (RFC 5321 §3.8), and a client tries again later.
 */
export const limitReplies: Readonly<Record<LimitReason, SmtpReply>> = {
  connections_per_ip: { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address, try again later' },
  connection_rate: { code: 421, enhanced: '4.7.0', text: 'Too many connections from your address in a short time, try again later' },
  junk_commands: { code: 421, enhanced: '4.7.0', text: 'Too many commands without a message, closing connection' },
  errors: { code: 421, enhanced: '4.7.0', text: 'Too many errors, closing connection' },
  session_timeout: { code: 421, enhanced: '4.4.2', text: 'Session time limit reached, closing connection' },
  data_timeout: { code: 421, enhanced: '4.4.2', text: 'Timeout: the message took too long to arrive, closing connection' },
};

/** An Error smtp-server turns into the reply: responseCode + "enhanced text". */
/** The reply at the end of DATA for mail to a feedback address. */
export function feedbackReply(r: FeedbackReply): SmtpReply {
  switch (r.kind) {
    case 'received':
      return { code: 250, enhanced: '2.0.0', text: 'Ok: feedback report received' };
    case 'discarded':
      return { code: 250, enhanced: '2.0.0', text: `Ok: ${r.what}, discarded` };
    case 'forwarded':
      return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${r.queueId}` };
    case 'accepted':
      return { code: 250, enhanced: '2.0.0', text: `Ok: ${r.what}` };
    case 'too_big':
      return { code: 552, enhanced: '5.3.4', text: `Message size exceeds fixed maximum message size of ${r.max} bytes` };
    case 'failed':
      // The provider retries a 4xx: a report we could not read or queue now is not lost.
      return replies.localError;
  }
}

export function replyError(r: SmtpReply): Error & { responseCode: number } {
  const err = new Error(`${r.enhanced} ${r.text}`) as Error & { responseCode: number };
  err.responseCode = r.code;
  return err;
}
