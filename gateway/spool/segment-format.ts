/**
 * On-disk format of a spool segment: a header naming the segment's key, then records
 * appended back to back.
 *
 *   segment header, written twice:  "SLUSEG1\n" key(32) check(4)          44 bytes × 2
 *   record:  magic(8) metaLen(u32) bodyLen(u32) headCheck(u32) digest(32)  meta  body
 *
 * The header is also written to seg/<n>.key beside the segment (segment-writer.ts): a
 * damaged block at the start of the segment file then costs the records in that block,
 * not every record of the segment (issue 11). Two record versions:
 *
 *   v1 (magic "\x89SLR…"):  digest = HMAC-SHA256(key, lengths + meta + body)
 *   v2 (magic "\x89SL2…"):  digest = HMAC(key, "meta" + lengths + meta)[0..16]
 *                                  ‖ HMAC(key, lengths + meta + body)[0..16]
 *
 * v2 checks the envelope on its own, so when only the body is damaged recovery still
 * knows whose message was lost and can tell the sender (a DSN). Truncating HMAC-SHA256
 * to 128 bits is within RFC 2104 §5 (at least half the output, and at least 80 bits).
 * Records are written as v2; v1 records (spools from before the upgrade) are still read.
 *
 * Either digest detects torn and corrupt records as DiskSpool's sha256 does. The key is random per process run and never leaves the
 * spool, so after a corrupt record the scanner can resync on the next magic without
 * being fooled by a record-shaped byte string inside somebody's message body: a forged
 * record cannot carry a valid digest. headCheck is a cheap hash of the lengths so that
 * a resync rejects a false magic before reading a length's worth of bytes.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Envelope } from './types.js';

const SEGMENT_MAGIC = Buffer.from('SLUSEG1\n', 'latin1');
const HEADER_COPY_BYTES = SEGMENT_MAGIC.length + 32 + 4;
export const SEGMENT_HEADER_BYTES = HEADER_COPY_BYTES * 2;

/** High bit, "SLR", CR LF, ^Z, LF: text-mode mangling shows up as a bad magic (the PNG trick). */
const RECORD_MAGIC_V1 = Buffer.from([0x89, 0x53, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]);
const RECORD_MAGIC_V2 = Buffer.from([0x89, 0x53, 0x4c, 0x32, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The bytes both magics start with: what a resync searches for. */
const MAGIC_PREFIX = RECORD_MAGIC_V1.subarray(0, 3);
const MAGIC_BYTES = RECORD_MAGIC_V1.length;
export const RECORD_HEADER_BYTES = MAGIC_BYTES + 4 + 4 + 4 + 32;
const META_TAG = Buffer.from('meta', 'latin1');

export function newSegmentKey(): Buffer {
  return randomBytes(32);
}

export function encodeSegmentHeader(key: Buffer): Buffer {
  const check = createHash('sha256').update(SEGMENT_MAGIC).update(key).digest().subarray(0, 4);
  const copy = Buffer.concat([SEGMENT_MAGIC, key, check]);
  return Buffer.concat([copy, copy]);
}

/** The segment's key from the first header copy that checks out, or why neither does. */
export function parseSegmentHeader(buf: Buffer): Buffer | string {
  if (buf.length < HEADER_COPY_BYTES) return `segment header torn (${buf.length} bytes)`;
  for (const at of [0, HEADER_COPY_BYTES]) {
    const copy = buf.subarray(at, at + HEADER_COPY_BYTES);
    if (copy.length < HEADER_COPY_BYTES || !copy.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) continue;
    const key = copy.subarray(SEGMENT_MAGIC.length, SEGMENT_MAGIC.length + 32);
    const check = createHash('sha256').update(SEGMENT_MAGIC).update(key).digest().subarray(0, 4);
    if (check.equals(copy.subarray(SEGMENT_MAGIC.length + 32))) return Buffer.from(key);
  }
  return 'segment header corrupt';
}

/** The parts of one record, ready for writev: header, meta, body (the body is not copied). */
export function encodeRecord(key: Buffer, meta: Buffer, body: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  RECORD_MAGIC_V2.copy(head, 0);
  head.writeUInt32BE(meta.length, 8);
  head.writeUInt32BE(body.length, 12);
  head.writeUInt32BE(headCheck(key, meta.length, body.length), 16);
  const lengths = head.subarray(8, 16);
  metaDigest(key, lengths, meta).copy(head, 20);
  digest(key, lengths, meta, body).copy(head, 36, 0, 16);
  return [head, meta, body];
}

export function recordBytes(metaLength: number, bodyLength: number): number {
  return RECORD_HEADER_BYTES + metaLength + bodyLength;
}

export interface ParsedRecord {
  readonly metaLength: number;
  readonly bodyLength: number;
  readonly meta: Buffer;
  readonly body: Buffer;
}

/** Checks the record at `offset` of `buf`; the reason it is not one otherwise. */
export function readRecord(buf: Buffer, offset: number, key: Buffer): ParsedRecord | string {
  const left = buf.length - offset;
  if (left < RECORD_HEADER_BYTES) return `torn record: ${left} bytes left of a ${RECORD_HEADER_BYTES}-byte header`;
  const version = versionAt(buf, offset);
  if (version === 0) return 'no record magic';
  const metaLength = buf.readUInt32BE(offset + 8);
  const bodyLength = buf.readUInt32BE(offset + 12);
  if (buf.readUInt32BE(offset + 16) !== headCheck(key, metaLength, bodyLength)) return 'corrupt record header';
  const size = recordBytes(metaLength, bodyLength);
  if (size > left) return `torn record: ${size} bytes long, ${left} on disk`;
  const metaAt = offset + RECORD_HEADER_BYTES;
  const meta = buf.subarray(metaAt, metaAt + metaLength);
  const body = buf.subarray(metaAt + metaLength, metaAt + metaLength + bodyLength);
  const lengths = buf.subarray(offset + 8, offset + 16);
  const stored = buf.subarray(offset + 20, offset + 20 + 32);
  if (version === 1) {
    if (!digest(key, lengths, meta, body).equals(stored)) return 'checksum mismatch';
  } else if (!metaDigest(key, lengths, meta).equals(stored.subarray(0, 16)) || !digest(key, lengths, meta, body).subarray(0, 16).equals(stored.subarray(16))) {
    return 'checksum mismatch';
  }
  return { metaLength, bodyLength, meta, body };
}

/**
 * The envelope of the record at the start of `buf`, which need hold only the record's
 * header and envelope: a v2 record's envelope digest checks it without the body, so
 * reading an envelope back (a deferred message coming due) costs its few hundred bytes,
 * not the whole message. null for a v1 record (only its whole-record digest checks it);
 * otherwise the reason it does not check out.
 */
export function readRecordMeta(buf: Buffer, key: Buffer): Buffer | string | null {
  if (buf.length < RECORD_HEADER_BYTES) return `torn record: ${buf.length} bytes left of a ${RECORD_HEADER_BYTES}-byte header`;
  const version = versionAt(buf, 0);
  if (version === 0) return 'no record magic';
  if (version === 1) return null;
  const metaLength = buf.readUInt32BE(8);
  if (buf.readUInt32BE(16) !== headCheck(key, metaLength, buf.readUInt32BE(12))) return 'corrupt record header';
  if (RECORD_HEADER_BYTES + metaLength > buf.length) return `torn record: its envelope is ${metaLength} bytes, ${buf.length - RECORD_HEADER_BYTES} read`;
  const meta = buf.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + metaLength);
  return metaDigest(key, buf.subarray(8, 16), meta).equals(buf.subarray(20, 36)) ? meta : 'checksum mismatch';
}

/**
 * The envelope bytes of a damaged v2 record at `offset` when they still check out under
 * `key` (the body may be torn or corrupt); null when they do not or the record is v1.
 * `limit` is where the damaged region ends: meta past it is not trusted.
 */
export function survivingMeta(buf: Buffer, offset: number, key: Buffer, limit = buf.length): Buffer | null {
  if (limit - offset < RECORD_HEADER_BYTES || versionAt(buf, offset) !== 2) return null;
  const metaLength = buf.readUInt32BE(offset + 8);
  const bodyLength = buf.readUInt32BE(offset + 12);
  if (buf.readUInt32BE(offset + 16) !== headCheck(key, metaLength, bodyLength)) return null;
  const metaAt = offset + RECORD_HEADER_BYTES;
  if (metaAt + metaLength > limit) return null;
  const meta = buf.subarray(metaAt, metaAt + metaLength);
  return metaDigest(key, buf.subarray(offset + 8, offset + 16), meta).equals(buf.subarray(offset + 20, offset + 36)) ? meta : null;
}

/** Offsets in [from, to) where a record magic (either version) starts: candidates, nothing checked. */
export function* magicOffsets(buf: Buffer, from: number, to = buf.length): Generator<number> {
  for (let at = buf.indexOf(MAGIC_PREFIX, from); at >= 0 && at < to; at = buf.indexOf(MAGIC_PREFIX, at + 1)) {
    if (versionAt(buf, at) !== 0) yield at;
  }
}

/** The offset of the next valid record at or after `from`, or null (resync after damage). */
export function nextRecord(buf: Buffer, from: number, key: Buffer): number | null {
  for (const at of magicOffsets(buf, from)) {
    if (typeof readRecord(buf, at, key) !== 'string') return at;
  }
  return null;
}

function versionAt(buf: Buffer, at: number): 0 | 1 | 2 {
  if (buf.length - at < MAGIC_BYTES) return 0;
  if (buf.compare(RECORD_MAGIC_V2, 0, MAGIC_BYTES, at, at + MAGIC_BYTES) === 0) return 2;
  if (buf.compare(RECORD_MAGIC_V1, 0, MAGIC_BYTES, at, at + MAGIC_BYTES) === 0) return 1;
  return 0;
}

export function parseEnvelope(meta: Buffer): Envelope | null {
  try {
    const e = JSON.parse(meta.toString('utf8')) as unknown;
    if (typeof e === 'object' && e !== null && typeof (e as { id?: unknown }).id === 'string') return e as Envelope;
  } catch {
    // falls through: a record that passed its digest but is not an envelope is still damage
  }
  return null;
}

function metaDigest(key: Buffer, lengths: Buffer, meta: Buffer): Buffer {
  return createHmac('sha256', key).update(META_TAG).update(lengths).update(meta).digest().subarray(0, 16);
}

function digest(key: Buffer, lengths: Buffer, meta: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(lengths).update(meta).update(body).digest();
}

/** A 32-bit mix of the lengths and the key (murmur3's finaliser): not a MAC, a fast filter. */
function headCheck(key: Buffer, metaLength: number, bodyLength: number): number {
  return fmix32(metaLength ^ fmix32(bodyLength ^ key.readUInt32BE(0))) >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
