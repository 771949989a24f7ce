/**
 * Several peer messages (handoffs and replicas) in one SMTP transaction to a cluster
 * listener, so that a busy node pays one MAIL / RCPT / DATA and the peer one group-committed
 * fsync for a batch instead of one each (docs/CLUSTER.md "Peer transport"). Each item is a
 * whole peer message as it would travel alone (its signed X-Sluice-Peer field, then the
 * message bytes), so every item is checked on its own; the batch frame adds only lengths:
 *
 *   X-Sluice-Peer-Batch: 1 <items>CRLF
 *   CRLF
 *   <item length in bytes>CRLF <item bytes> CRLF      (once per item)
 *
 * The peer takes or refuses each item and says which in its 250: "... batch of <n>: <flags>",
 * one "+" (taken: durable there) or "-" (refused for now) per item, in order. A batch it
 * cannot take as a whole (a bad frame, a signature that does not check out, too many hops)
 * gets the reply a single message would get; the sender then sends its items one at a time.
 */
import { SluiceError } from '../errors.js';

export const BATCH_HEADER = 'X-Sluice-Peer-Batch';
/** The recipient of a batch transaction: the items' own recipients travel in their facts. */
export const BATCH_RCPT = 'batch@peers.sluice.invalid';
/** Items per batch at most (the 250's flags stay far below the 512-octet reply line). */
export const MAX_BATCH_ITEMS = 64;

const CRLF = Buffer.from('\r\n');

export function encodeBatch(items: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`${BATCH_HEADER}: 1 ${items.length}\r\n\r\n`, 'latin1')];
  for (const item of items) parts.push(Buffer.from(`${item.length}\r\n`, 'latin1'), item, CRLF);
  return Buffer.concat(parts);
}

export function isBatch(data: Buffer): boolean {
  const prefix = `${BATCH_HEADER.toLowerCase()}:`;
  return data.subarray(0, prefix.length).toString('latin1').toLowerCase() === prefix;
}

/** The items of a batch (views into `data`), or why the frame is malformed. */
export function decodeBatch(data: Buffer): Buffer[] {
  const headEnd = data.indexOf('\r\n\r\n');
  const head = headEnd < 0 ? '' : data.subarray(0, headEnd).toString('latin1');
  const m = /^X-Sluice-Peer-Batch:\s*1\s+(\d{1,4})$/i.exec(head);
  if (!m?.[1]) throw new SluiceError('USAGE', `malformed ${BATCH_HEADER} header`);
  const count = Number(m[1]);
  if (count < 1 || count > MAX_BATCH_ITEMS) throw new SluiceError('USAGE', `a batch holds 1 to ${MAX_BATCH_ITEMS} items, not ${count}`);
  const items: Buffer[] = [];
  let at = headEnd + 4;
  for (let i = 0; i < count; i++) {
    const eol = data.indexOf('\r\n', at);
    const length = eol < 0 ? NaN : Number(data.subarray(at, eol).toString('latin1'));
    if (!Number.isSafeInteger(length) || length < 0 || eol - at > 12) throw new SluiceError('USAGE', `batch item ${i + 1}: no length line`);
    const start = eol + 2;
    const end = start + length;
    if (end + 2 > data.length || data[end] !== 0x0d || data[end + 1] !== 0x0a) throw new SluiceError('USAGE', `batch item ${i + 1}: shorter than its length ${length}`);
    items.push(data.subarray(start, end));
    at = end + 2;
  }
  if (at !== data.length) throw new SluiceError('USAGE', `${data.length - at} bytes after the last of ${count} batch items`);
  return items;
}

/** The 250 text for a batch: which items were taken. */
export function batchReplyText(taken: readonly boolean[]): string {
  return `Ok: batch of ${taken.length}: ${taken.map((t) => (t ? '+' : '-')).join('')}`;
}

/** Which items a batch's 250 says were taken; null when the reply does not say it for `count` items. */
export function parseBatchReply(reply: string, count: number): boolean[] | null {
  const m = /batch of (\d+): ([+-]+)/.exec(reply);
  if (!m?.[1] || !m[2] || Number(m[1]) !== count || m[2].length !== count) return null;
  return [...m[2]].map((c) => c === '+');
}
