/**
 * Mapping of internal results to SMTP replies for the listener: a plugin's verdict, and
 * DATA that could not be read. Every reply text itself lives in replies.ts.
 */
import type { Verdict } from '../plugin-host/public.js';
import type { ReadResult } from './message-reader.js';
import { limitReplies, replies, replyError, type SmtpReply } from './replies.js';

/** The error smtp-server turns into the reply for a verdict; null lets the command pass. */
export function verdictError(v: Verdict): Error | null {
  switch (v.kind) {
    case 'next':
    case 'accept':
      return null;
    case 'reject':
    case 'defer':
      return replyError({ code: v.code, enhanced: v.enhanced, text: v.text });
    case 'drop':
      return null;
  }
}

/** The reply for DATA that could not be read as a message of at most `limit` bytes. */
export function unreadable(read: Exclude<ReadResult, { kind: 'ok' }> | { kind: 'timeout' }, limit: number): SmtpReply {
  switch (read.kind) {
    case 'timeout':
      return limitReplies.data_timeout;
    case 'aborted':
      return replies.localError;
    case 'too-big':
      return replies.tooBig(limit);
    case 'bad-line-endings':
      return replies.badLineEndings;
  }
}
