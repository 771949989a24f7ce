/**
 * Loop protection (RFC 5321 §6.3): every relay adds a Received field (§4.4), so a
 * message that has passed more hops than any sane path is looping. Postfix refuses it
 * at hopcount_limit (50) with 5.4.6 "routing loop detected" (RFC 3463 §3.5).
 */

const NAME = Buffer.from('received', 'latin1');

/**
 * The number of Received fields in the header block of `message` (CRLF line ends),
 * counting no further than `stopAfter + 1`. It hops from line to line with
 * Buffer.indexOf and compares eight bytes per line, without copying or decoding the
 * header, and stops at the limit: a message with 100 000 Received fields costs 51
 * line checks at the default, whatever its size.
 */
export function countReceived(message: Buffer, stopAfter: number): number {
  let n = 0;
  for (let pos = 0; pos < message.length && n <= stopAfter; ) {
    // The empty line ends the header block (RFC 5322 §2.1).
    if (message[pos] === 0x0d && message[pos + 1] === 0x0a) break;
    if (isReceived(message, pos)) n++;
    const lf = message.indexOf(0x0a, pos);
    if (lf < 0) break;
    pos = lf + 1;
  }
  return n;
}

/** "Received" in any case at `pos`, then optional spaces or tabs and a colon. */
function isReceived(buf: Buffer, pos: number): boolean {
  for (let i = 0; i < NAME.length; i++) {
    if (((buf[pos + i] ?? 0) | 0x20) !== NAME[i]) return false;
  }
  let p = pos + NAME.length;
  while (buf[p] === 0x20 || buf[p] === 0x09) p++;
  return buf[p] === 0x3a;
}
