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

/** Returns `raw` itself when it is clean (the common case costs one scan, no copy). */
export function normaliseLineEndings(raw: Buffer): Buffer {
  let dirty = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === 0x00 || (b === 0x0a && raw[i - 1] !== 0x0d) || (b === 0x0d && raw[i + 1] !== 0x0a)) {
      dirty = true;
      break;
    }
  }
  if (!dirty) return raw;
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
