/**
 * Reads DATA into memory with the size limit enforced while streaming (bytes past the
 * limit are counted, never kept), and normalises what could smuggle a message: bare
 * LF becomes CRLF (as Postfix ≥ 3.9 does), a stray CR or a NUL becomes a space. With
 * `reject`, such a message is refused instead.
 */
import type { Readable } from 'node:stream';

export type ReadResult =
  | { readonly kind: 'ok'; readonly data: Buffer; readonly normalised: boolean }
  | { readonly kind: 'too-big'; readonly size: number }
  | { readonly kind: 'bad-line-endings' }
  | { readonly kind: 'aborted' };

export async function readMessage(stream: Readable, maxSize: number, mode: 'normalize' | 'reject'): Promise<ReadResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxSize) {
        tooBig = true;
        chunks.length = 0;
        continue;
      }
      chunks.push(chunk);
    }
  } catch {
    return { kind: 'aborted' };
  }
  if (tooBig || (stream as Readable & { sizeExceeded?: boolean }).sizeExceeded) return { kind: 'too-big', size };
  const raw = Buffer.concat(chunks, size);
  const fixed = normaliseLineEndings(raw);
  if (fixed === raw) return { kind: 'ok', data: raw, normalised: false };
  if (mode === 'reject') return { kind: 'bad-line-endings' };
  return { kind: 'ok', data: fixed, normalised: true };
}

/** Returns `raw` itself when it is clean (the common case: a few native scans, no copy). */
export function normaliseLineEndings(raw: Buffer): Buffer {
  if (isClean(raw)) return raw;
  const out = Buffer.allocUnsafe(raw.length * 2);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === 0x0a) {
      if (raw[i - 1] !== 0x0d) out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (b === 0x0d) {
      out[o++] = raw[i + 1] === 0x0a ? 0x0d : 0x20;
    } else if (b === 0x00) {
      out[o++] = 0x20;
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}

/**
 * True when every LF follows a CR, every CR precedes an LF, and there is no NUL.
 * Uses Buffer.indexOf (memchr) to hop between line ends instead of a byte loop: on a
 * 100 KB message this is the difference between ~100 000 JS steps and ~1 300.
 */
function isClean(raw: Buffer): boolean {
  if (raw.indexOf(0x00) >= 0) return false;
  let pos = 0;
  for (;;) {
    const lf = raw.indexOf(0x0a, pos);
    if (lf < 0) break;
    if (lf === 0 || raw[lf - 1] !== 0x0d) return false;
    pos = lf + 1;
  }
  pos = 0;
  for (;;) {
    const cr = raw.indexOf(0x0d, pos);
    if (cr < 0) return true;
    if (raw[cr + 1] !== 0x0a) return false;
    pos = cr + 2;
  }
}
