/**
 * Sends messages to peers over the framed peer protocol (peer-frames.ts): TLS to the
 * peer's cluster listener, HELLO with this node's credential, then each message as one MSG
 * frame written at once, without waiting for the ones before it; the peer ACKs each by id
 * once it is durable there. `send` resolves only on a 2xx ACK, exactly like PeerClient on
 * a 250; a refusal rejects with a PeerSendError carrying the peer's code; a connection
 * that dies (or a message without an ACK in time) fails every message unanswered on it
 * with replyCode 0, so the callers' retry and failover paths stay as they are.
 *
 * One connection per peer and lane (replicas, handoffs), with at most HELLO_OK's
 * `max_inflight` messages in flight on it (128); more wait in this process. A peer whose
 * listener answers the ClientHello with plain text (an SMTP greeting: a node of an earlier
 * version) rejects with SmtpOnlyPeerError, and `smtpOnly` is told, so that the transport
 * (peer-transport.ts) sends it SMTP instead.
 */
import { connect, type TLSSocket } from 'node:tls';
import { peerMessage, peerPassword, pendingRcpts, type PeerFacts } from './peer-facts.js';
import { decodeAck, decodeError, decodeJson, encodeJson, FRAME, FrameDecoder, msgHead, replyLine, type Frame } from './peer-frames.js';
import { PeerSendError, splitHostPort, type PeerAddress, type PeerReceipt } from './peer-client.js';

/** The peer's listener did not answer TLS with TLS: it speaks only SMTP. */
export class SmtpOnlyPeerError extends PeerSendError {
  readonly address: string;
  constructor(peer: PeerAddress, cause: unknown) {
    super(`peer ${peer.id} at ${peer.address} does not speak the framed protocol`, 0, cause);
    this.name = 'SmtpOnlyPeerError';
    this.address = peer.address;
  }
}

export interface FramedPeerClientOptions {
  readonly nodeId: string;
  readonly secret: string;
  /** Connect, TLS and HELLO within this long; a message's ACK within twice this (default 10 s). */
  readonly timeoutMs?: number;
  /** An unused connection closes after this long (default 30 s). */
  readonly idleMs?: number;
  /** Messages in flight per connection at most, whatever the peer allows (default 128). */
  readonly maxInFlight?: number;
  /** A peer turned out to speak only SMTP. */
  readonly smtpOnly?: (peer: PeerAddress) => void;
}

/** A warm-up that failed is not tried again for this long (as PeerClient). */
const WARM_RETRY_MS = 5_000;

/** What ends a TLS handshake when the other end answered with plain text (an SMTP greeting). */
const PLAIN_TEXT_ANSWER = /wrong version number|packet length too long|unknown protocol|http request|record layer failure/i;

interface Pending {
  readonly id: number;
  readonly message: Buffer;
  readonly resolve: (r: PeerReceipt) => void;
  readonly reject: (err: unknown) => void;
  timer: NodeJS.Timeout | null;
}

interface Lane {
  conn: FramedConnection | null;
  warmAfter: number;
}

export class FramedPeerClient {
  private readonly lanes = new Map<string, Lane>();
  private closed = false;

  constructor(private readonly opts: FramedPeerClientOptions) {}

  /** Passes `body` with `facts` to `peer` for the recipients in facts.envelope.rcpts not in facts.done. */
  send(peer: PeerAddress, facts: PeerFacts, body: Buffer): Promise<PeerReceipt> {
    if (pendingRcpts(facts).length === 0) return Promise.reject(new PeerSendError(`nothing to send to ${peer.id}: every recipient is done`, 0));
    if (this.closed) return Promise.reject(new PeerSendError('peer client closed', 0));
    const message = peerMessage(this.opts.secret, facts, body);
    // Replicas and handoffs travel on connections of their own (see PeerClient): a replica
    // must never wait behind handoffs the peer is replicating back to this node.
    return this.connection(peer, facts.kind).send(message);
  }

  /** Opens the lane's connection ahead of need when it has none; a failed attempt pauses this for WARM_RETRY_MS. */
  warm(peer: PeerAddress, kind: PeerFacts['kind']): void {
    if (this.closed) return;
    const lane = this.lane(peer, kind);
    if (lane.conn?.usable || lane.warmAfter > Date.now()) return;
    const conn = this.connection(peer, kind);
    conn.ready.catch(() => (lane.warmAfter = Date.now() + WARM_RETRY_MS));
  }

  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) lane.conn?.destroy(new PeerSendError('peer client closed', 0));
  }

  private lane(peer: PeerAddress, kind: PeerFacts['kind']): Lane {
    const key = `${kind}\u0000${peer.address}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { conn: null, warmAfter: 0 };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private connection(peer: PeerAddress, kind: PeerFacts['kind']): FramedConnection {
    const lane = this.lane(peer, kind);
    if (lane.conn?.usable) return lane.conn;
    const conn = new FramedConnection(peer, this.opts, () => {
      if (lane.conn === conn) lane.conn = null;
    });
    conn.ready.catch((err: unknown) => {
      if (err instanceof SmtpOnlyPeerError) this.opts.smtpOnly?.(peer);
    });
    lane.conn = conn;
    return conn;
  }
}

/** One framed connection to a peer: its handshake, its messages in flight and those waiting for room. */
class FramedConnection {
  /** Settles once HELLO_OK arrived (or the handshake failed). */
  readonly ready: Promise<void>;
  private readonly socket: TLSSocket;
  private readonly decoder = new FrameDecoder(1024 * 1024);
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private state: 'handshake' | 'open' | 'closed' = 'handshake';
  private maxInFlight: number;
  private maxFrame = Infinity;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly timeoutMs: number;
  private settleReady!: (err?: unknown) => void;

  constructor(
    private readonly peer: PeerAddress,
    private readonly opts: FramedPeerClientOptions,
    private readonly onClosed: () => void,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxInFlight = opts.maxInFlight ?? 128;
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err?: unknown) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error("handshake failed")));
    });
    // Nobody may be waiting on it (a warm-up): its failure is reported through the sends.
    this.ready.catch(() => undefined);
    const { host, port } = splitHostPort(peer.address);
    const limit = setTimeout(() => this.destroy(new PeerSendError(`cannot reach peer ${peer.id} at ${peer.address}: no TLS and HELLO within ${this.timeoutMs} ms`, 0)), this.timeoutMs);
    limit.unref();
    // Nodes often run on self-signed certificates: what proves a peer is the HELLO
    // credential and the signed facts (both from [cluster] secret); TLS keeps the mail private.
    this.socket = connect({ host, port, rejectUnauthorized: false });
    this.socket.setNoDelay(true);
    this.socket.once('secureConnect', () => {
      this.socket.write(encodeJson(FRAME.HELLO, { v: 1, node: opts.nodeId, password: peerPassword(opts.secret, opts.nodeId) }));
    });
    this.ready.then(
      () => clearTimeout(limit),
      () => clearTimeout(limit),
    );
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: Error & { code?: string }) => {
      if (this.state === 'handshake' && isPlainTextAnswer(err)) return this.destroy(new SmtpOnlyPeerError(peer, err));
      const what = this.state === 'handshake' ? `cannot reach peer ${peer.id} at ${peer.address}` : `peer ${peer.id} at ${peer.address}`;
      this.destroy(new PeerSendError(`${what}: ${err.message.slice(0, 200)}`, 0, err));
    });
    this.socket.on('close', () => this.destroy(new PeerSendError(`peer ${peer.id} closed the connection`, 0)));
  }

  /** Open, or still opening: new messages may go on it. */
  get usable(): boolean {
    return this.state !== 'closed';
  }

  send(message: Buffer): Promise<PeerReceipt> {
    if (this.state === 'closed') return Promise.reject(new PeerSendError(`peer ${this.peer.id} closed the connection`, 0));
    if (message.length + 5 > this.maxFrame) return Promise.reject(tooBig(this.peer, message.length, this.maxFrame));
    return new Promise<PeerReceipt>((resolve, reject) => {
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
      this.waiting.push({ id, message, resolve, reject, timer: null });
      this.pump();
    });
  }

  /** Fails every message unanswered on it with `err` and closes the connection. */
  destroy(err: unknown): void {
    if (this.state === 'closed') return;
    const wasHandshake = this.state === 'handshake';
    this.state = 'closed';
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.onClosed();
    if (wasHandshake) this.settleReady(err);
    for (const p of [...this.inFlight.values(), ...this.waiting.splice(0)]) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.inFlight.clear();
  }

  /** Writes what waits while there is room in flight; all of one turn goes out in one write. */
  private pump(): void {
    if (this.state !== 'open') return;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    let wrote = false;
    while (this.waiting.length > 0 && this.inFlight.size < this.maxInFlight) {
      const p = this.waiting.shift() as Pending;
      if (p.message.length + 5 > this.maxFrame) {
        p.reject(tooBig(this.peer, p.message.length, this.maxFrame));
        continue;
      }
      if (!wrote) this.socket.cork();
      wrote = true;
      this.inFlight.set(p.id, p);
      // No ACK in time: the peer or the link is stuck. The connection goes, failing what is
      // on it (replyCode 0), so that none of it waits longer and the senders try again.
      p.timer = setTimeout(() => this.destroy(new PeerSendError(`peer ${this.peer.id} did not answer within ${this.timeoutMs * 2} ms`, 0)), this.timeoutMs * 2);
      p.timer.unref();
      this.socket.write(msgHead(p.id, p.message.length));
      this.socket.write(p.message);
    }
    if (wrote) process.nextTick(() => this.socket.uncork());
    this.armIdle();
  }

  private armIdle(): void {
    if (this.inFlight.size > 0 || this.waiting.length > 0 || this.state !== 'open') return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.destroy(new PeerSendError('idle connection closed', 0)), this.opts.idleMs ?? 30_000);
    this.idleTimer.unref();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      return this.destroy(new PeerSendError(`peer ${this.peer.id} sent a frame that cannot be read: ${String((err as Error).message)}`, 0, err));
    }
    for (const f of frames) {
      if (this.state === 'closed') return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    try {
      switch (f.type) {
        case FRAME.HELLO_OK: {
          const ok = decodeJson(f.payload);
          if (typeof ok['max_inflight'] === 'number' && ok['max_inflight'] > 0) this.maxInFlight = Math.min(this.maxInFlight, ok['max_inflight']);
          if (typeof ok['max_frame'] === 'number' && ok['max_frame'] > 0) this.maxFrame = ok['max_frame'];
          this.state = 'open';
          this.settleReady();
          return this.pump();
        }
        case FRAME.ACK: {
          const { id, reply } = decodeAck(f.payload);
          const p = this.inFlight.get(id);
          if (!p) return;
          this.inFlight.delete(id);
          if (p.timer) clearTimeout(p.timer);
          const line = replyLine(reply);
          if (reply.code >= 200 && reply.code < 300) p.resolve({ reply: line, refused: [] });
          else p.reject(new PeerSendError(`peer ${this.peer.id} did not take the message: ${line.slice(0, 200)}`, reply.code));
          return this.pump();
        }
        case FRAME.ERROR: {
          const reply = decodeError(f.payload);
          // A refused HELLO (535) is the peer's answer for every message: it carries the code.
          return this.destroy(new PeerSendError(`peer ${this.peer.id} closed the connection: ${replyLine(reply).slice(0, 200)}`, this.state === 'handshake' ? reply.code : 0));
        }
        case FRAME.HELLO:
        case FRAME.MSG:
          return this.destroy(new PeerSendError(`peer ${this.peer.id} sent an unexpected frame`, 0));
      }
    } catch (err) {
      this.destroy(new PeerSendError(`peer ${this.peer.id} sent a frame that cannot be read: ${String((err as Error).message)}`, 0, err));
    }
  }
}

function isPlainTextAnswer(err: Error & { code?: string }): boolean {
  return PLAIN_TEXT_ANSWER.test(`${err.code ?? ''} ${err.message}`);
}

/** As the SMTP listener's 552 5.3.4: the peer would refuse it whatever the connection. */
function tooBig(peer: PeerAddress, length: number, maxFrame: number): PeerSendError {
  return new PeerSendError(`peer ${peer.id} did not take the message: 552 5.3.4 Message size exceeds fixed maximum message size of ${maxFrame - 5} bytes (${length})`, 552);
}
