/**
 * The framed peer protocol's wire format (docs/CLUSTER.md "Peer transport"): what a node
 * and its peer exchange over TLS on the cluster listener's port instead of SMTP commands.
 * Each frame is a 4-byte big-endian length (of what follows it), a 1-byte type and the
 * payload:
 *
 * - HELLO (client): JSON `{ "v": 1, "node": id, "password": credential }`, the same
 *   credential SMTP AUTH PLAIN carries (peer-facts.ts peerPassword).
 * - HELLO_OK (server): JSON `{ "v": 1, "node": id, "max_frame": n, "max_inflight": n }`.
 * - MSG (client): a 4-byte id the client picks, then the message exactly as it travels over
 *   SMTP (its signed X-Sluice-Peer field first).
 * - ACK (server): the MSG's id, a 2-byte reply code, then "<enhanced> <text>" in UTF-8.
 * - ERROR (server): a 2-byte reply code and "<enhanced> <text>"; the server closes after it.
 *
 * The decoder takes chunks as TCP delivers them (a frame split over many, many frames in
 * one) and throws a FrameError on a frame it must not read (too large, an unknown type).
 */
import { SluiceError } from '../errors.js';

export const FRAME = { HELLO: 1, HELLO_OK: 2, MSG: 3, ACK: 4, ERROR: 5 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export interface Frame {
  readonly type: FrameType;
  readonly payload: Buffer;
}

/** Length (4) and type (1). */
const HEADER = 5;

/** Why a frame could not be read: the connection it came on ends. */
export class FrameError extends SluiceError {
  readonly reason: 'oversize' | 'unknown_type' | 'empty' | 'malformed';
  constructor(reason: FrameError['reason'], message: string) {
    super('PEER_SEND_FAILED', message);
    this.name = 'FrameError';
    this.reason = reason;
  }
}

const TYPES = new Set<number>(Object.values(FRAME));

export function encodeFrame(type: FrameType, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt32BE(payload.length + 1, 0);
  head.writeUInt8(type, 4);
  return Buffer.concat([head, payload]);
}

/** A MSG frame's head (length, type, id): written before the message bytes, which are not copied. */
export function msgHead(id: number, messageLength: number): Buffer {
  const head = Buffer.allocUnsafe(HEADER + 4);
  head.writeUInt32BE(messageLength + 5, 0);
  head.writeUInt8(FRAME.MSG, 4);
  head.writeUInt32BE(id, 5);
  return head;
}

export function encodeMsg(id: number, message: Buffer): Buffer {
  return Buffer.concat([msgHead(id, message.length), message]);
}

export function decodeMsg(payload: Buffer): { id: number; message: Buffer } {
  if (payload.length < 4) throw new FrameError('malformed', 'MSG frame shorter than its id');
  return { id: payload.readUInt32BE(0), message: payload.subarray(4) };
}

export interface Reply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

function replyBytes(r: Reply): Buffer {
  return Buffer.from(`${r.enhanced} ${r.text}`, 'utf8');
}

function parseReply(code: number, rest: Buffer): Reply {
  const s = rest.toString('utf8');
  const sp = s.indexOf(' ');
  return sp < 0 ? { code, enhanced: s, text: '' } : { code, enhanced: s.slice(0, sp), text: s.slice(sp + 1) };
}

export function encodeAck(id: number, r: Reply): Buffer {
  const head = Buffer.allocUnsafe(6);
  head.writeUInt32BE(id, 0);
  head.writeUInt16BE(r.code, 4);
  return encodeFrame(FRAME.ACK, Buffer.concat([head, replyBytes(r)]));
}

export function decodeAck(payload: Buffer): { id: number; reply: Reply } {
  if (payload.length < 6) throw new FrameError('malformed', 'ACK frame shorter than its id and code');
  return { id: payload.readUInt32BE(0), reply: parseReply(payload.readUInt16BE(4), payload.subarray(6)) };
}

export function encodeError(r: Reply): Buffer {
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(r.code, 0);
  return encodeFrame(FRAME.ERROR, Buffer.concat([head, replyBytes(r)]));
}

export function decodeError(payload: Buffer): Reply {
  if (payload.length < 2) throw new FrameError('malformed', 'ERROR frame shorter than its code');
  return parseReply(payload.readUInt16BE(0), payload.subarray(2));
}

export function encodeJson(type: typeof FRAME.HELLO | typeof FRAME.HELLO_OK, value: object): Buffer {
  return encodeFrame(type, Buffer.from(JSON.stringify(value), 'utf8'));
}

/** A HELLO or HELLO_OK payload as an object, or a FrameError. */
export function decodeJson(payload: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // below
  }
  throw new FrameError('malformed', 'HELLO payload is not a JSON object');
}

/** The frame reply line as SMTP would print it ("250 2.0.0 Ok: ..."). */
export function replyLine(r: Reply): string {
  return `${r.code} ${r.enhanced} ${r.text}`;
}

/**
 * Reads frames from a byte stream. `maxFrame`: the largest length field taken (type and
 * payload); a longer one throws at once, before its bytes arrive. After a throw the
 * decoder is not used again (the connection closes).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private maxFrame: number) {}

  /** A new limit for the frames still to come (a server raises it once the peer's HELLO checked out). */
  setLimit(maxFrame: number): void {
    this.maxFrame = maxFrame;
  }

  /** The frames `chunk` completes, in order. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER) break;
      const head = this.peek(HEADER);
      const length = head.readUInt32BE(0);
      if (length === 0) throw new FrameError('empty', 'a frame of length 0');
      if (length > this.maxFrame) throw new FrameError('oversize', `a frame of ${length} bytes, over the limit of ${this.maxFrame}`);
      const type = head.readUInt8(4);
      if (!TYPES.has(type)) throw new FrameError('unknown_type', `a frame of unknown type ${type}`);
      if (this.buffered < 4 + length) break;
      const whole = this.take(4 + length);
      out.push({ type: type as FrameType, payload: whole.subarray(HEADER) });
    }
    return out;
  }

  /** Bytes of a frame not yet complete. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    this.chunks = [Buffer.concat(this.chunks)];
    return (this.chunks[0] as Buffer).subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
