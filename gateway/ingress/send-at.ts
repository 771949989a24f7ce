/**
 * `X-Sluice-Send-At` (issue 17): a client asks for a message to leave no earlier than a
 * time, written as an RFC 5322 date ("Fri, 04 Dec 2026 20:00:00 +0000") or ISO 8601
 * ("2026-12-04T20:00:00Z"). A time too far ahead (`[queue] max_schedule`) is refused at
 * the end of DATA; a time in the past means "now". The header never leaves the node.
 */
import type { SmtpReply } from './replies.js';

const RFC5322 = /^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|UT|GMT|Z)?$/;
const ISO8601 = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

export type SendAt = { readonly at: number } | { readonly reply: SmtpReply };

export function parseSendAt(value: string, now: number, maxScheduleMs: number): SendAt {
  const text = value.trim();
  const at = RFC5322.test(text) || ISO8601.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(at)) {
    return { reply: { code: 550, enhanced: '5.6.0', text: 'X-Sluice-Send-At: not an RFC 5322 or ISO 8601 date-time with a zone (e.g. 2026-12-04T20:00:00Z)' } };
  }
  if (at - now > maxScheduleMs) {
    return { reply: { code: 550, enhanced: '5.7.1', text: `X-Sluice-Send-At: more than ${Math.floor(maxScheduleMs / 1000)} s ahead (queue max_schedule)` } };
  }
  return { at };
}
