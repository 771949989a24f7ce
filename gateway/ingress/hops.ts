/**
 * Loop protection (RFC 5321 §6.3): every relay adds a Received field (§4.4), so a
 * message that has passed more hops than any sane path is looping. Postfix refuses it
 * at hopcount_limit (50) with 5.4.6 "routing loop detected" (RFC 3463 §3.5).
 */

/** Received fields at the start of a line (a continuation line starts with a space). */
const RECEIVED = /^received[ \t]*:/gim;

/**
 * The number of Received fields in the header block of `message` (CRLF line ends),
 * counting no further than `stopAfter + 1`: a message with 100 000 of them costs one
 * latin1 copy of the header block and stops at the limit, never a parse of every field.
 */
export function countReceived(message: Buffer, stopAfter: number): number {
  const end = message.indexOf('\r\n\r\n');
  const header = message.subarray(0, end < 0 ? message.length : end + 2).toString('latin1');
  RECEIVED.lastIndex = 0;
  let n = 0;
  while (n <= stopAfter && RECEIVED.exec(header) !== null) n++;
  RECEIVED.lastIndex = 0;
  return n;
}
