/**
 * One connection of the framed peer protocol (gateway/cluster/peer-frames.ts) on the
 * cluster listener, after its TLS handshake: HELLO with the node's credential, then MSG
 * frames the peer writes without waiting, each taken through the same intake as an SMTP
 * peer message (peer-intake.ts) and answered by an ACK with its id as soon as it is
 * durable here, in whatever order they finish (the spool and the replica log group-commit,
 * so messages in flight together share their fdatasync).
 *
 * A frame that cannot be read (too large, an unknown type, a malformed payload), a MSG
 * before HELLO, a bad credential, or more messages in flight than HELLO_OK allowed end this
 * connection only (logged as `peer_frame_closed` with the reason); messages already taken
 * still finish, their ACKs are just not sent. The sender resends what it has no ACK for.
 */
import type { TLSSocket } from 'node:tls';
import { checkPeerPassword } from '../cluster/peer-facts.js';
import { decodeJson, decodeMsg, encodeAck, encodeError, encodeJson, FRAME, FrameDecoder, FrameError, type Frame, type Reply } from '../cluster/peer-frames.js';
import type { Logger } from '../observe/logger.js';
import { clusterReplies, type PeerIntake } from './peer-intake.js';
import { replies, type SmtpReply } from './replies.js';

/** Messages in flight on one connection at most (told to the client in HELLO_OK). */
export const MAX_IN_FLIGHT = 128;

/** The largest frame before HELLO checked out: a stranger cannot make the node buffer a whole message. */
const BEFORE_HELLO_MAX = 64 * 1024;

export interface FramedSessionDeps {
  readonly id: string;
  readonly nodeId: string;
  readonly secret: string;
  readonly intake: PeerIntake;
  /** The largest frame taken: relay.max_message_size + the facts' room. */
  readonly maxFrame: number;
  /** No frame for this long with nothing in flight: the connection closes (listen.socket_timeout). */
  readonly idleMs: number;
  readonly log: Logger;
  /** A drain or shutdown: new messages get this reply instead of being taken. */
  readonly refusal: () => SmtpReply | null;
  /** Messages being taken on any connection of the listener (for stop()). */
  readonly busy: (delta: 1 | -1) => void;
  readonly closed: (s: FramedSession) => void;
}

export class FramedSession {
  private readonly decoder: FrameDecoder;
  private node: string | null = null;
  private inFlight = 0;
  private ended = false;
  private corked = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly deps: FramedSessionDeps,
  ) {
    this.decoder = new FrameDecoder(BEFORE_HELLO_MAX);
    socket.setNoDelay(true);
    socket.setTimeout(deps.idleMs, () => {
      if (this.inFlight > 0) return;
      this.fail('idle', clusterReplies.idle);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.gone());
    socket.on('close', () => this.gone());
  }

  /** Ends the connection now with `reply` (shutdown): messages in flight finish unanswered. */
  end(reply: SmtpReply): void {
    this.closeWith(reply);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      return this.malformed(err);
    }
    for (const f of frames) {
      if (this.ended) return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    try {
      switch (f.type) {
        case FRAME.HELLO:
          return this.onHello(f.payload);
        case FRAME.MSG:
          return this.onMsg(f.payload);
        case FRAME.HELLO_OK:
        case FRAME.ACK:
        case FRAME.ERROR:
          return this.fail('unexpected_type', { code: 554, enhanced: '5.6.0', text: 'Unexpected frame from a client: closing connection' });
      }
    } catch (err) {
      this.malformed(err);
    }
  }

  private onHello(payload: Buffer): void {
    if (this.node !== null) return this.fail('second_hello', { code: 503, enhanced: '5.5.1', text: 'HELLO already done' });
    const hello = decodeJson(payload);
    const node = typeof hello['node'] === 'string' ? hello['node'] : '';
    const password = typeof hello['password'] === 'string' ? hello['password'] : '';
    if (node === '' || !checkPeerPassword(this.deps.secret, node, password)) {
      this.deps.log.warn({ event: 'peer_auth_failed', session: this.deps.id, client: this.socket.remoteAddress, node: node.slice(0, 64) }, 'cluster listener: HELLO with a credential no node of this fleet has');
      return this.fail('auth_failed', clusterReplies.notAPeer);
    }
    this.node = node;
    this.decoder.setLimit(this.deps.maxFrame);
    this.socket.write(encodeJson(FRAME.HELLO_OK, { v: 1, node: this.deps.nodeId, max_frame: this.deps.maxFrame, max_inflight: MAX_IN_FLIGHT }));
  }

  private onMsg(payload: Buffer): void {
    const node = this.node;
    if (node === null) return this.fail('msg_before_hello', clusterReplies.helloFirst);
    const { id, message } = decodeMsg(payload);
    if (this.inFlight >= MAX_IN_FLIGHT) return this.fail('too_many_in_flight', clusterReplies.tooManyInFlight);
    const refusal = this.deps.refusal();
    if (refusal) return this.ack(id, refusal);
    this.inFlight++;
    this.deps.busy(1);
    this.deps.intake
      .receive(message, { session: this.deps.id, client: this.socket.remoteAddress, node, via: 'framed' })
      .then(
        (reply) => this.ack(id, reply),
        () => this.ack(id, replies.localError),
      )
      .finally(() => {
        this.inFlight--;
        this.deps.busy(-1);
      });
  }

  private ack(id: number, reply: Reply): void {
    if (this.ended) return;
    // A group commit settles many messages in one turn: their ACKs leave in one TLS record.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encodeAck(id, reply));
  }

  /** A frame that cannot be read (FrameError) or whose payload does not parse. */
  private malformed(err: unknown): void {
    const reason = err instanceof FrameError ? err.reason : 'malformed';
    this.fail(reason, { code: 554, enhanced: '5.6.0', text: `Malformed frame (${reason}): closing connection` }, err);
  }

  /** Closes this connection for a protocol reason, with one log line. */
  private fail(reason: string, reply: SmtpReply, err?: unknown): void {
    if (this.ended) return;
    this.deps.log.warn({ event: 'peer_frame_closed', session: this.deps.id, client: this.socket.remoteAddress, node: this.node, reason, in_flight: this.inFlight, ...(err ? { err: String((err as Error).message ?? err).slice(0, 200) } : {}) }, `cluster listener: framed connection closed: ${reason}`);
    this.closeWith(reply);
  }

  private closeWith(reply: SmtpReply): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.end(encodeError(reply));
    // A peer that does not close its end is not waited for.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
    this.deps.closed(this);
  }

  private gone(): void {
    if (!this.ended) {
      this.ended = true;
      this.deps.closed(this);
    }
    this.socket.destroy();
  }
}
