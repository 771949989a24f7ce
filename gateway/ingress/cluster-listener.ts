/**
 * The cluster listener (`[[listen]] mode = "cluster"`): where peers pass each other
 * messages, in one of two dialects on the same port, told apart by the first byte the
 * client sends:
 *
 * - 0x16 (a TLS ClientHello): the framed peer protocol (cluster/peer-frames.ts,
 *   framed-session.ts): TLS with the node's certificate at once, HELLO with the node's
 *   credential, then pipelined MSG frames each answered by an ACK.
 * - nothing within 100 ms (an SMTP client waits for the greeting), or anything else: SMTP
 *   through smtp-server, as nodes of earlier versions speak it: STARTTLS, then AUTH PLAIN
 *   as a node id with the credential `[cluster] secret` derives for it (peer-facts.ts); a
 *   client without it gets `530 5.7.0` at MAIL and nothing else.
 *
 * Either way every message must start with an X-Sluice-Peer field whose signature checks
 * out over the facts and the bytes after it (peer-intake.ts, one copy of the rules): that
 * is what makes it a handoff or a replica, and nothing else is taken, so this listener
 * never relays for anyone but the fleet. A handoff is spooled (fsync) and queued before
 * the 250; a replica goes to the ReplicaSink and gets its 250 once that resolves.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { ListenConfig } from '../config/schema.js';
import type { Clock } from '../state/types.js';
import type { Envelope } from '../spool/types.js';
import { readMessage } from './message-reader.js';
import { replies, replyError, type SmtpReply } from './replies.js';
import { applyTlsPolicy } from './tls-policy.js';
import { endAllSessions } from './smtp-guards.js';
import type { ClusterListenerPort } from '../cluster/cluster-link.js';
import type { Logger } from '../observe/logger.js';
import { checkPeerPassword, type PeerFacts } from '../cluster/peer-facts.js';
import type { ReplicaSink } from '../cluster/replica-sink.js';
import { batchReplyText, decodeBatch, isBatch } from '../cluster/peer-batch.js';
import { clusterReplies, PeerIntake } from './peer-intake.js';
import { FramedSession } from './framed-session.js';

export { clusterReplies } from './peer-intake.js';

export interface ClusterListenerDeps {
  readonly listen: ListenConfig;
  readonly nodeId: string;
  readonly hostname: string;
  readonly secret: string;
  readonly tls: { key: Buffer; cert: Buffer };
  /** The largest message taken (relay.max_message_size); the facts field comes on top. */
  readonly maxMessageSize: () => number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Spools (durable) and queues a handed-off message; throws SluiceError SPOOL_FULL when the disk is full. */
  readonly accept: (envelope: Envelope, body: Buffer) => Promise<void>;
  /** The replica store; absent: replicas get 451 4.3.0. */
  readonly replicas?: ReplicaSink | undefined;
  /** A message taken (handoff or replica) or refused, for the metric. */
  readonly received?: (kind: PeerFacts['kind'] | 'unsigned', ok: boolean) => void;
}

/** Room for the X-Sluice-Peer field on top of the message size limit (the envelope in base64). */
export const FACTS_ROOM = 256 * 1024;

/** An SMTP client says nothing before the greeting: a connection silent this long is SMTP. */
const SNIFF_MS = 100;

/** The first byte of a TLS handshake record (RFC 8446 §5.1, ContentType handshake(22)). */
const TLS_HANDSHAKE = 0x16;

/** A framed connection that has not finished its TLS handshake by then is closed. */
const HANDSHAKE_MS = 10_000;

type DataCallback = (err?: Error | null, message?: string) => void;

export class ClusterListener implements ClusterListenerPort {
  readonly server: SMTPServer;
  /** The socket that listens: it hands each connection to the framed protocol or to smtp-server. */
  private readonly port: Server;
  private readonly framedTls: TlsServer;
  private readonly framed = new Set<FramedSession>();
  /** Every connection the port accepted and that is still open, whichever dialect. */
  private readonly sockets = new Set<Socket>();
  private readonly intake: PeerIntake;
  private refusal: SmtpReply | null = null;
  private inflight = 0;
  private sessionSeq = 0;

  constructor(private readonly deps: ClusterListenerDeps) {
    applyTlsPolicy();
    const { listen } = deps;
    this.intake = new PeerIntake({ secret: deps.secret, clock: deps.clock, log: deps.log, accept: deps.accept, replicas: deps.replicas, received: deps.received });
    this.server = new SMTPServer({
      name: deps.hostname,
      banner: 'Sluice cluster',
      // config/cross-check.ts allows only STARTTLS here (what PeerClient speaks).
      secure: false,
      key: deps.tls.key,
      cert: deps.tls.cert,
      minVersion: listen.tls_min_version,
      ciphers: listen.tls_ciphers,
      honorCipherOrder: true,
      size: deps.maxMessageSize() + FACTS_ROOM,
      maxClients: listen.max_connections,
      socketTimeout: listen.socket_timeout,
      authMethods: ['PLAIN'],
      // MAIL answers 530 5.7.0 itself (onMailFrom): the one reply a stranger gets.
      authOptional: true,
      allowInsecureAuth: false,
      hideDSN: true,
      logger: false,
      disabledCommands: [],
      onAuth: (a, s, cb) => this.onAuth(a, s, cb),
      onMailFrom: (_a, s, cb) => cb(this.refusedFor(s)),
      onRcptTo: (_a, s, cb) => cb(this.refusedFor(s)),
      onData: (stream, s, cb) => void this.onData(stream, s, cb),
    });
    this.server.on('error', (err) => deps.log.warn({ err, listener: this.name }, 'cluster listener error'));
    this.framedTls = createTlsServer({ key: deps.tls.key, cert: deps.tls.cert, minVersion: listen.tls_min_version, ciphers: listen.tls_ciphers, honorCipherOrder: true, handshakeTimeout: HANDSHAKE_MS }, (s) => this.startFramed(s));
    this.framedTls.on('tlsClientError', (err, s) => {
      deps.log.debug({ event: 'peer_tls_failed', client: s.remoteAddress, err: err.message }, 'cluster listener: a TLS handshake failed');
      s.destroy();
    });
    this.port = createServer((socket) => this.sniff(socket));
    this.port.maxConnections = listen.max_connections;
  }

  get name(): string {
    return `${this.deps.listen.host}:${this.deps.listen.port}`;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.port.once('error', onError);
      this.port.listen(this.deps.listen.port, this.deps.listen.host, () => {
        this.port.removeListener('error', onError);
        this.port.on('error', (err) => this.deps.log.warn({ err, listener: this.name }, 'cluster listener error'));
        resolve((this.port.address() as { port: number }).port);
      });
    });
  }

  /** A maintenance drain: peers get `reply` (and pick another node) until called with null. */
  refuseNew(reply: SmtpReply | null): void {
    this.refusal = reply;
  }

  async stop(timeoutMs: number): Promise<void> {
    this.refusal = replies.shuttingDown;
    const deadline = Date.now() + timeoutMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of [...this.framed]) s.end(replies.shuttingDown);
    // smtp-server's close() would wait closeTimeout for sessions that stay open between
    // transactions (pooled clients): end them now, with the reply new sessions get.
    endAllSessions(this.server, replies.shuttingDown);
    // What is still open (a connection in its first 100 ms or its TLS handshake, a session
    // that started meanwhile) would hold the port's close until its own timeout.
    const stragglers = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 1_000);
    stragglers.unref();
    await Promise.all([new Promise<void>((resolve) => this.port.close(() => resolve())), new Promise<void>((resolve) => this.server.close(() => resolve()))]);
    clearTimeout(stragglers);
  }

  /**
   * Waits for the client's first byte: a TLS ClientHello is the framed protocol; silence
   * (an SMTP client waits for the greeting) or anything else goes to smtp-server, with
   * what was read put back, so its own checks (a client that talks too soon) still apply.
   */
  private sniff(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const onError = () => socket.destroy();
    const settle = () => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.pause();
    };
    const onData = (chunk: Buffer) => {
      settle();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) this.framedTls.emit('connection', socket);
      else this.toSmtp(socket);
    };
    const timer = setTimeout(() => {
      settle();
      this.toSmtp(socket);
    }, SNIFF_MS);
    socket.on('error', onError);
    socket.on('data', onData);
  }

  /** smtp-server's own accept path (its net.Server's connection handler), as if it had accepted the socket. */
  private toSmtp(socket: Socket): void {
    if (socket.destroyed) return;
    this.server.server.emit('connection', socket);
  }

  private startFramed(socket: TLSSocket): void {
    const s = new FramedSession(socket, {
      id: `f${(++this.sessionSeq).toString(36)}`,
      nodeId: this.deps.nodeId,
      secret: this.deps.secret,
      intake: this.intake,
      maxFrame: this.deps.maxMessageSize() + FACTS_ROOM + 5,
      idleMs: this.deps.listen.socket_timeout,
      log: this.deps.log,
      refusal: () => this.refusal,
      busy: (d) => (this.inflight += d),
      closed: (x) => this.framed.delete(x),
    });
    this.framed.add(s);
  }

  private refusedFor(session: SMTPServerSession): Error | null {
    if (!session.user) return replyError(replies.authRequired);
    return this.refusal ? replyError(this.refusal) : null;
  }

  private onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: { user: string }) => void): void {
    const id = auth.username ?? '';
    if (id !== '' && checkPeerPassword(this.deps.secret, id, auth.password ?? '')) return cb(null, { user: id });
    this.deps.log.warn({ event: 'peer_auth_failed', session: session.id, client: session.remoteAddress, node: id.slice(0, 64) }, 'cluster listener: AUTH with a credential no node of this fleet has');
    cb(replyError(clusterReplies.notAPeer));
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: DataCallback): Promise<void> {
    this.inflight++;
    try {
      const limit = this.deps.maxMessageSize() + FACTS_ROOM;
      const read = await readMessage(stream, limit, 'reject');
      if (read.kind !== 'ok') return cb(replyError(read.kind === 'too-big' ? replies.tooBig(limit) : replies.badLineEndings));
      const batch = isBatch(read.data);
      let items: Buffer[];
      try {
        items = batch ? decodeBatch(read.data) : [read.data];
      } catch (err) {
        this.deps.log.warn({ event: 'peer_bad_batch', session: session.id, node: String(session.user), err }, 'cluster listener: a malformed batch: refused');
        return cb(replyError(clusterReplies.badBatch));
      }
      // Every item must check out before any is taken: a batch is refused as a whole, and the sender sends its items alone.
      const origin = { session: session.id, client: session.remoteAddress, node: String(session.user), via: 'smtp' } as const;
      const opened: { facts: PeerFacts; body: Buffer }[] = [];
      for (const item of items) {
        const o = this.intake.open(item, origin);
        if (!o.ok) return cb(replyError(o.reply));
        opened.push(o);
      }
      const [one] = opened;
      if (!batch && one) {
        const rcpts = session.envelope.rcptTo.map((r) => r.address);
        const reply = await this.intake.take(one.facts, one.body, origin, rcpts);
        this.deps.received?.(one.facts.kind, reply.code < 300);
        return reply.code < 300 ? cb(null, `${reply.enhanced} ${reply.text}`) : cb(replyError(reply));
      }
      // A batch: its items are taken together (the spool and the replica store commit them with shared fsyncs).
      const answers = await Promise.all(
        opened.map(({ facts, body }) =>
          this.intake.take(facts, body, origin).catch((err: unknown) => {
            this.deps.log.error({ err, origin: facts.origin, origin_queue_id: facts.queueId }, 'cluster listener: a batch item failed');
            return clusterReplies.itemFailed;
          }),
        ),
      );
      answers.forEach((r, i) => this.deps.received?.((opened[i] as { facts: PeerFacts }).facts.kind, r.code < 300));
      const taken = answers.map((r) => r.code < 300);
      if (taken.some(Boolean)) return cb(null, `2.0.0 ${batchReplyText(taken)}`);
      // None taken: the first item's refusal (e.g. 452 4.3.1 for a full disk) speaks for all.
      cb(replyError(answers[0] ?? clusterReplies.itemFailed));
    } catch (err) {
      this.deps.log.error({ err, session: session.id }, 'cluster listener: DATA failed');
      cb(replyError(replies.localError));
    } finally {
      this.inflight--;
    }
  }
}
