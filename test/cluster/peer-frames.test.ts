// The framed peer protocol's codec: frames split across chunks and merged within one come
// out whole and in order; a frame over the limit, of an unknown type or of length 0 throws
// a FrameError with its reason, before its bytes arrive.
import { describe, expect, it } from 'vitest';
import { decodeAck, decodeError, decodeJson, decodeMsg, encodeAck, encodeError, encodeJson, encodeMsg, FRAME, FrameDecoder, FrameError } from '../../gateway/cluster/peer-frames.js';

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return err instanceof FrameError ? err.reason : `not a FrameError: ${String(err)}`;
  }
  return 'no error';
}

describe('peer frames', () => {
  it('round-trips every frame type', () => {
    const d = new FrameDecoder(1 << 20);
    const msg = Buffer.from('X-Sluice-Peer:\r\n 1.abc.def\r\nSubject: x\r\n\r\nbody\r\n');
    const frames = d.push(Buffer.concat([encodeJson(FRAME.HELLO, { v: 1, node: 'n1', password: 'p' }), encodeMsg(7, msg), encodeAck(7, { code: 250, enhanced: '2.0.0', text: 'Ok: queued as X' }), encodeError({ code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' })]));
    expect(frames.map((f) => f.type)).toEqual([FRAME.HELLO, FRAME.MSG, FRAME.ACK, FRAME.ERROR]);
    const [hello, m, ack, error] = frames;
    expect(decodeJson(hello!.payload)).toEqual({ v: 1, node: 'n1', password: 'p' });
    const dm = decodeMsg(m!.payload);
    expect(dm.id).toBe(7);
    expect(dm.message.equals(msg)).toBe(true);
    expect(decodeAck(ack!.payload)).toEqual({ id: 7, reply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as X' } });
    expect(decodeError(error!.payload)).toEqual({ code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' });
    expect(d.pending).toBe(0);
  });

  it('reads frames split at every byte, and many merged in one chunk', () => {
    const msgs = Array.from({ length: 50 }, (_, i) => Buffer.alloc(i * 37 + 1, i));
    const wire = Buffer.concat(msgs.map((m, i) => encodeMsg(i, m)));
    for (const step of [1, 2, 3, 5, 7, 64, 1000, wire.length]) {
      const d = new FrameDecoder(1 << 20);
      const got: { id: number; message: Buffer }[] = [];
      for (let i = 0; i < wire.length; i += step) for (const f of d.push(wire.subarray(i, i + step))) got.push(decodeMsg(f.payload));
      expect(got.map((g) => g.id)).toEqual(msgs.map((_, i) => i));
      got.forEach((g, i) => expect(g.message.equals(msgs[i]!)).toBe(true));
      expect(d.pending).toBe(0);
    }
  });

  it('refuses a frame over the limit as soon as its length is read', () => {
    const d = new FrameDecoder(1000);
    const big = encodeMsg(1, Buffer.alloc(2000));
    expect(reasonOf(() => d.push(big.subarray(0, 5)))).toBe('oversize');
    // Exactly at the limit is taken.
    const e = new FrameDecoder(1000);
    expect(e.push(encodeMsg(1, Buffer.alloc(1000 - 5))).length).toBe(1);
  });

  it('refuses garbage: an unknown type, a length of 0, a short payload', () => {
    expect(reasonOf(() => new FrameDecoder(1000).push(Buffer.from([0, 0, 0, 3, 99, 1, 2])))).toBe('unknown_type');
    expect(reasonOf(() => new FrameDecoder(1000).push(Buffer.from([0, 0, 0, 0, 1])))).toBe('empty');
    // "EHLO x" read as a frame: a length of 1 162 627 151 bytes.
    expect(reasonOf(() => new FrameDecoder(1 << 20).push(Buffer.from('EHLO x\r\n')))).toBe('oversize');
    expect(reasonOf(() => decodeMsg(Buffer.from([1, 2])))).toBe('malformed');
    expect(reasonOf(() => decodeAck(Buffer.from([1, 2, 3])))).toBe('malformed');
    expect(reasonOf(() => decodeJson(Buffer.from('[1]')))).toBe('malformed');
    expect(reasonOf(() => decodeJson(Buffer.from('{not json')))).toBe('malformed');
  });
});
