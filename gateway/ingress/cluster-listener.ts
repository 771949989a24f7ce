/**
 * The cluster listener (`[[listen]] mode = "cluster"`): the SMTP dialect peers use to pass
 * each other messages. STARTTLS with the node's certificate, then AUTH PLAIN as a node id
 * with the credential `[cluster] secret` derives for it (peer-facts.ts); a client without
 * it gets `530 5.7.0` at MAIL and nothing else. Every message must start with an
 * X-Sluice-Peer field whose signature checks out over the facts and the bytes after it:
 * that is what makes it a handoff or a replica, and nothing else is taken, so this
 * listener never relays for anyone but the fleet. A handoff is spooled (fsync) and queued
 * before the 250; a replica goes to the ReplicaSink and gets its 250 once that resolves.
 */
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { ListenConfig } from '../config/schema.js';
import type { Clock } from '../state/types.js';
import type { Envelope } from '../spool/types.js';
import { newQueueId } from '../spool/queue-id.js';
import { readMessage } from './message-reader.js';
import { replies, replyError, type SmtpReply } from './replies.js';
import { applyTlsPolicy } from './tls-policy.js';
import { endAllSessions } from './smtp-guards.js';
import { SluiceError } from '../errors.js';
import type { ClusterListenerPort } from '../cluster/cluster-link.js';
import type { Logger } from '../observe/logger.js';
import { checkPeerPassword, MAX_PEER_HOPS, openFacts, splitFacts, type PeerFacts } from '../cluster/peer-facts.js';
import type { ReplicaSink } from '../cluster/replica-sink.js';
import { batchReplyText, decodeBatch, isBatch } from '../cluster/peer-batch.js';

export const clusterReplies = {
  notSigned: { code: 554, enhanced: '5.7.0', text: 'Not a peer message: X-Sluice-Peer missing, or its signature does not check out' },
  tooManyHops: { code: 554, enhanced: '5.4.6', text: `Too many hops between nodes (more than ${MAX_PEER_HOPS}): refused to end a loop` },
  noReplicas: { code: 451, enhanced: '4.3.0', text: 'This node keeps no replicas (no replica store): try another peer' },
  notAPeer: { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  badBatch: { code: 554, enhanced: '5.6.0', text: 'Malformed X-Sluice-Peer-Batch: send the messages one at a time' },
  itemFailed: { code: 451, enhanced: '4.3.0', text: 'Local error taking a peer message: try again' },
} as const satisfies Record<string, SmtpReply>;

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
const FACTS_ROOM = 256 * 1024;

type DataCallback = (err?: Error | null, message?: string) => void;

export class ClusterListener implements ClusterListenerPort {
  readonly server: SMTPServer;
  private refusal: SmtpReply | null = null;
  private inflight = 0;

  constructor(private readonly deps: ClusterListenerDeps) {
    applyTlsPolicy();
    const { listen } = deps;
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
  }

  get name(): string {
    return `${this.deps.listen.host}:${this.deps.listen.port}`;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.deps.listen.port, this.deps.listen.host, () => {
        this.server.removeListener('error', onError);
        const addr = (this.server as unknown as { server: { address(): { port: number } } }).server.address();
        resolve(addr.port);
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
    // smtp-server's close() would wait closeTimeout for sessions that stay open between
    // transactions (pooled clients): end them now, with the reply new sessions get.
    endAllSessions(this.server, replies.shuttingDown);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
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
      const opened: { facts: PeerFacts; body: Buffer }[] = [];
      for (const item of items) {
        const split = splitFacts(item);
        const facts = split ? openFacts(this.deps.secret, split.value, split.body) : null;
        if (!split || !facts) {
          this.deps.received?.('unsigned', false);
          this.deps.log.warn({ event: 'peer_unsigned', session: session.id, client: session.remoteAddress, node: String(session.user) }, 'cluster listener: a message without valid X-Sluice-Peer facts: refused');
          return cb(replyError(clusterReplies.notSigned));
        }
        if (facts.hops + 1 > MAX_PEER_HOPS) {
          this.deps.received?.(facts.kind, false);
          this.deps.log.warn({ event: 'peer_loop', origin: facts.origin, origin_queue_id: facts.queueId, hops: facts.hops }, 'cluster listener: too many hops');
          return cb(replyError(clusterReplies.tooManyHops));
        }
        opened.push({ facts, body: split.body });
      }
      const from = typeof session.user === 'string' ? session.user : '';
      const [one] = opened;
      if (!batch && one) {
        const rcpts = session.envelope.rcptTo.map((r) => r.address);
        const reply = await this.take(one.facts, one.body, from, rcpts);
        this.deps.received?.(one.facts.kind, reply.code < 300);
        return reply.code < 300 ? cb(null, `${reply.enhanced} ${reply.text}`) : cb(replyError(reply));
      }
      // A batch: its items are taken together (the spool and the replica store commit them with shared fsyncs).
      const answers = await Promise.all(
        opened.map(({ facts, body }) =>
          this.take(facts, body, from, undefined).catch((err: unknown) => {
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

  /** Takes one peer message; `rcpts`: the transaction's (a message alone), else the facts' own. */
  private take(facts: PeerFacts, body: Buffer, from: string, rcpts: readonly string[] | undefined): Promise<SmtpReply> {
    if (facts.kind === 'replica') return this.keepReplica(facts, body);
    const done = new Set(facts.done);
    return this.takeHandoff(facts, rcpts ?? facts.envelope.rcpts.filter((r) => !done.has(r)), body, from);
  }

  private async keepReplica(facts: PeerFacts, body: Buffer): Promise<SmtpReply> {
    if (!this.deps.replicas) return clusterReplies.noReplicas;
    await this.deps.replicas.keep(facts, body);
    return { code: 250, enhanced: '2.0.0', text: `Ok: replica of ${facts.origin}/${facts.queueId} kept` };
  }

  /** A handoff: a new local queue id, the sender's facts kept on the envelope (`peer`). */
  private async takeHandoff(facts: PeerFacts, rcpts: readonly string[], body: Buffer, from: string): Promise<SmtpReply> {
    const id = newQueueId(this.deps.clock);
    const hops = facts.hops + 1;
    const trace = `${facts.trace ?? ''}${facts.trace ? ' ' : ''}${from}/${facts.queueId}`;
    const envelope: Envelope = {
      ...facts.envelope,
      id,
      rcpts,
      peer: { origin: facts.origin, from, queueId: facts.queueId, hops, trace, attempts: facts.attempts, ...(facts.fbl ? { fbl: facts.fbl } : {}) },
    };
    try {
      await this.deps.accept(envelope, body);
    } catch (err) {
      if (err instanceof SluiceError && err.code === 'SPOOL_FULL') return replies.lowDisk;
      throw err;
    }
    this.deps.log.info({ event: 'handoff_received', queue_id: id, from, origin: facts.origin, origin_queue_id: facts.queueId, rcpts: rcpts.length, hops, pool: envelope.pool, class: envelope.class }, `handed over by ${from}`);
    return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${id}` };
  }
}
