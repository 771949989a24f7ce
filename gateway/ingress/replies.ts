/**
 * Every reply the ingress sends for its own reasons, in one place (after haraka-dsn's
 * named replies). The text starts with the enhanced code so smtp-guards keeps it exact.
 */
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

/** An Error smtp-server turns into the reply: responseCode + "enhanced text". */
export function replyError(r: SmtpReply): Error & { responseCode: number } {
  const err = new Error(`${r.enhanced} ${r.text}`) as Error & { responseCode: number };
  err.responseCode = r.code;
  return err;
}
