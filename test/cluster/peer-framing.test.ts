/**
 * The framed peer protocol on real sockets (one node in-process with a replica store, a
 * private Redis, a test MX): a handoff and a replica sent framed are taken and answered
 * 250 once durable, the handoff delivered; on the wire a wrong credential gets ERROR 535
 * 5.7.8, a MSG before HELLO 530 5.7.0, a garbage or oversize frame closes that connection
 * only; many messages pipelined on one connection are all acknowledged; and the
 * transport falls back to SMTP for a listener that speaks only SMTP.
 */
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { startRedis, type PrivateRedis } from '../support/redis-server.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { message } from '../support/smtp-client.js';
import { makeCert } from '../support/certs.js';
import { FramedPeerClient } from '../../gateway/cluster/framed-peer-client.js';
import { PeerTransport } from '../../gateway/cluster/peer-transport.js';
import { PeerSendError } from '../../gateway/cluster/peer-client.js';
import { peerMessage, peerPassword, type PeerFacts } from '../../gateway/cluster/peer-facts.js';
import { handoffFacts } from '../support/peer.js';
import { decodeAck, decodeError, decodeJson, encodeJson, encodeMsg, FRAME, FrameDecoder, type Frame } from '../../gateway/cluster/peer-frames.js';

const SECRET = 'framing-test-secret-0123456789ab';
/** [relay] max_message_size of the node: frames over it + 256 kB are refused. */
const MAX_SIZE = 1024 * 1024;

let redis: PrivateRedis;
let mx: TestMx;
let gw: TestGateway;
let client: FramedPeerClient;

const facts = handoffFacts;

const body = (subject: string) => Buffer.from(message({ from: 'app@sender.test', to: 'alice@example.test', subject }));
const signed = (f: PeerFacts, b: Buffer) => peerMessage(SECRET, f, b);

beforeAll(async () => {
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.30' });
  gw = await startGateway(`
[node]
id = "n2"
data_dir = "\${DIR}/data"
[cluster]
redis_url = "${redis.url}"
secret = "${SECRET}"
heartbeat = "200ms"
replicas = 2
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "cluster"
[relay]
networks = ["127.0.0.1/32"]
max_message_size = ${MAX_SIZE}
[dns.static]
"*" = "127.0.0.30:${mx.port}"
[sources.b]
ip = "127.0.0.31"
ehlo = "b.sluice.test"
[pools.promo]
sources = ["b"]
[[routes]]
class = "promotional"
pool = "promo"
`);
  client = new FramedPeerClient({ nodeId: 'n1', secret: SECRET });
});

afterAll(async () => {
  client?.close();
  await gw?.stop();
  await mx?.close();
  await redis?.stop();
});

const peer = () => ({ id: 'n2', address: `127.0.0.1:${gw.port(1)}` });

/** A framed connection driven by hand: frames written as given, frames read one by one. */
class RawFramed {
  private readonly frames: Frame[] = [];
  private wake: (() => void) | null = null;
  private readonly decoder = new FrameDecoder(1 << 20);
  readonly closed: Promise<void>;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (c: Buffer) => {
      for (const f of this.decoder.push(c)) this.frames.push(f);
      this.wake?.();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawFramed> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(new RawFramed(s)));
      s.once('error', reject);
    });
  }

  async next(timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame in time');
      await Promise.race([new Promise<void>((r) => (this.wake = r)), new Promise((r) => setTimeout(r, 50))]);
    }
    return this.frames.shift() as Frame;
  }

  async hello(node = 'n1', password = peerPassword(SECRET, node)): Promise<Frame> {
    this.socket.write(encodeJson(FRAME.HELLO, { v: 1, node, password }));
    return this.next();
  }
}

describe('framed peer protocol', () => {
  it('takes a handoff after its spool commit (250 by ACK), then delivers it without the X-Sluice-Peer field', async () => {
    const before = mx.messages.length;
    const receipt = await client.send(peer(), facts({ queueId: 'H1' }), body('framed handoff'));
    expect(receipt.reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const got = await mx.waitFor(before + 1, 10_000);
    const m = got[before];
    expect(m?.rcpts).toEqual(['alice@example.test']);
    expect(m?.peerIp).toBe('127.0.0.31');
    const text = m?.raw.toString('latin1') ?? '';
    expect(text).toContain('Subject: framed handoff');
    expect(text).not.toMatch(/X-Sluice-Peer/i);
    expect(await gw.node.registry.metrics()).toMatch(/^sluice_peer_messages_total\{direction="received",kind="handoff",result="ok"\} [1-9]/m);
  });

  it('keeps a replica and answers 250 once it is durable', async () => {
    const receipt = await client.send(peer(), facts({ kind: 'replica', queueId: 'R1' }), body('framed replica'));
    expect(receipt.reply).toBe('250 2.0.0 Ok: replica of n1/R1 kept');
    expect(await gw.node.registry.metrics()).toMatch(/^sluice_peer_messages_total\{direction="received",kind="replica",result="ok"\} [1-9]/m);
  });

  it('refuses a message whose facts are not signed with the fleet secret (554 5.7.0), over the same connection', async () => {
    const c = await RawFramed.open(gw.port(1));
    expect((await c.hello()).type).toBe(FRAME.HELLO_OK);
    const b = body('forged');
    const forged = peerMessage('another-secret-0123456789abcdef', facts({ queueId: 'F1' }), b);
    c.socket.write(encodeMsg(9, forged));
    const ack = decodeAck((await c.next()).payload);
    expect(ack).toMatchObject({ id: 9, reply: { code: 554, enhanced: '5.7.0' } });
    // The connection stays usable: a good message after it is taken.
    c.socket.write(encodeMsg(10, signed(facts({ kind: 'replica', queueId: 'R2' }), body('after forged'))));
    expect(decodeAck((await c.next()).payload)).toMatchObject({ id: 10, reply: { code: 250 } });
    c.socket.end();
  });

  it('answers a wrong credential with 535 5.7.8 and closes', async () => {
    const c = await RawFramed.open(gw.port(1));
    const f = await c.hello('n1', 'guessed-password');
    expect(f.type).toBe(FRAME.ERROR);
    expect(decodeError(f.payload)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    await c.closed;
    // The client reports it as the peer's permanent refusal.
    const other = new FramedPeerClient({ nodeId: 'n1', secret: 'another-secret-0123456789abcdef' });
    const err = await other.send(peer(), facts({ queueId: 'W1' }), body('wrong secret')).catch((e: unknown) => e);
    other.close();
    expect(err).toBeInstanceOf(PeerSendError);
    expect((err as PeerSendError).replyCode).toBe(535);
  });

  it('answers a MSG before HELLO with 530 5.7.0 and closes', async () => {
    const c = await RawFramed.open(gw.port(1));
    c.socket.write(encodeMsg(1, signed(facts({ kind: 'replica', queueId: 'E1' }), body('too early'))));
    const f = await c.next();
    expect(f.type).toBe(FRAME.ERROR);
    expect(decodeError(f.payload)).toMatchObject({ code: 530, enhanced: '5.7.0' });
    await c.closed;
  });

  it('closes a connection that sends a garbage frame, and only that one', async () => {
    const bad = await RawFramed.open(gw.port(1));
    const good = await RawFramed.open(gw.port(1));
    expect((await bad.hello()).type).toBe(FRAME.HELLO_OK);
    expect((await good.hello()).type).toBe(FRAME.HELLO_OK);
    bad.socket.write(Buffer.from([0, 0, 0, 3, 99, 1, 2]));
    const f = await bad.next();
    expect(f.type).toBe(FRAME.ERROR);
    expect(decodeError(f.payload)).toMatchObject({ code: 554, enhanced: '5.6.0' });
    await bad.closed;
    good.socket.write(encodeMsg(1, signed(facts({ kind: 'replica', queueId: 'G1' }), body('still served'))));
    expect(decodeAck((await good.next()).payload)).toMatchObject({ id: 1, reply: { code: 250 } });
    good.socket.end();
    // And a new connection is served too.
    expect((await client.send(peer(), facts({ kind: 'replica', queueId: 'G2' }), body('new connection'))).reply).toMatch(/^250 /);
  });

  it('refuses a frame over max_message_size + 256 kB as soon as its length arrives, and the client refuses such a message with 552', async () => {
    const c = await RawFramed.open(gw.port(1));
    const hello = decodeJson((await c.hello()).payload);
    expect(hello['max_frame']).toBe(MAX_SIZE + 256 * 1024 + 5);
    const head = Buffer.alloc(9);
    head.writeUInt32BE(MAX_SIZE + 256 * 1024 + 100, 0);
    head.writeUInt8(FRAME.MSG, 4);
    c.socket.write(head);
    const f = await c.next();
    expect(decodeError(f.payload)).toMatchObject({ code: 554, enhanced: '5.6.0' });
    await c.closed;
    const err = await client.send(peer(), facts({ kind: 'replica', queueId: 'B1' }), Buffer.alloc(MAX_SIZE + 256 * 1024, 0x61)).catch((e: unknown) => e);
    expect((err as PeerSendError).replyCode).toBe(552);
    // Before HELLO a frame may not pass 64 kB: a stranger cannot make the node buffer a message.
    const early = await RawFramed.open(gw.port(1));
    const head2 = Buffer.alloc(5);
    head2.writeUInt32BE(65 * 1024, 0);
    head2.writeUInt8(FRAME.HELLO, 4);
    early.socket.write(head2);
    expect(decodeError((await early.next()).payload)).toMatchObject({ code: 554, enhanced: '5.6.0', text: expect.stringContaining('oversize') as unknown });
    await early.closed;
  });

  it('closes a connection that puts more than 128 messages in flight (421 4.7.0), and only that one', async () => {
    const c = await RawFramed.open(gw.port(1));
    expect(decodeJson((await c.hello()).payload)['max_inflight']).toBe(128);
    // 400 written at once, as a client that ignores max_inflight would: the spool's commits
    // take longer than reading them, so more than 128 are in flight before the first ACK.
    c.socket.write(Buffer.concat(Array.from({ length: 400 }, (_, i) => encodeMsg(i + 1, signed(facts({ kind: 'replica', queueId: `X${i}` }), Buffer.from(`Subject: ${i}\r\n\r\nx\r\n`))))));
    let f = await c.next();
    while (f.type === FRAME.ACK) f = await c.next();
    expect(f.type).toBe(FRAME.ERROR);
    expect(decodeError(f.payload)).toMatchObject({ code: 421, enhanced: '4.7.0' });
    await c.closed;
    expect((await client.send(peer(), facts({ kind: 'replica', queueId: 'X-after' }), body('after the flood'))).reply).toMatch(/^250 /);
  });

  it('pipelines many messages on one connection: every one acknowledged by id', async () => {
    const one = new FramedPeerClient({ nodeId: 'n1', secret: SECRET });
    const sends = Array.from({ length: 300 }, (_, i) => one.send(peer(), facts({ kind: 'replica', queueId: `P${i}` }), body(`pipelined ${i}`)));
    const receipts = await Promise.all(sends);
    one.close();
    receipts.forEach((r, i) => expect(r.reply).toBe(`250 2.0.0 Ok: replica of n1/P${i} kept`));
  });
});

describe('peer transport fallback', () => {
  let smtp: SMTPServer;
  let port = 0;
  const got: string[] = [];

  beforeAll(async () => {
    const cert = await makeCert(['127.0.0.1']);
    // A cluster listener of an earlier version: SMTP only (STARTTLS, AUTH PLAIN).
    smtp = new SMTPServer({
      key: cert.key,
      cert: cert.cert,
      authMethods: ['PLAIN'],
      logger: false,
      onAuth: (_a, _s, cb) => cb(null, { user: 'n1' }),
      onData(stream, _s, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          got.push(Buffer.concat(chunks).toString('latin1'));
          cb(null, 'Ok: queued as OLD1');
        });
      },
    });
    smtp.on('error', () => undefined);
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    port = (smtp.server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('sends SMTP to a peer that does not speak the framed protocol, and remembers it', async () => {
    const t = new PeerTransport({ nodeId: 'n1', secret: SECRET, hostname: 'n1.test', timeoutMs: 3_000 });
    const old = { id: 'old', address: `127.0.0.1:${port}` };
    expect(t.protocolFor(old)).toBe('framed');
    const r = await t.send(old, facts({ queueId: 'O1' }), body('to an old peer'));
    expect(r.reply).toMatch(/^250 .*queued as OLD1/);
    expect(t.protocolFor(old)).toBe('smtp');
    expect(got.at(-1)).toContain('Subject: to an old peer');
    expect(got.at(-1)).toMatch(/^X-Sluice-Peer:/);
    // A framed peer is still sent framed.
    expect((await t.send(peer(), facts({ kind: 'replica', queueId: 'O2' }), body('framed'))).reply).toMatch(/^250 /);
    expect(t.protocolFor(peer())).toBe('framed');
    t.close();
  });
});
