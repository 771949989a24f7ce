/**
 * The rules a message from a peer goes through, whichever way it came (an SMTP
 * transaction on the cluster listener, or a MSG frame of the framed protocol): its first
 * field must be a signed X-Sluice-Peer whose signature checks out over the facts and the
 * bytes after it, it must not have gone through too many nodes, and then it is a handoff
 * (spooled with fsync and queued) or a replica (kept by the ReplicaSink) before the 250.
 * One copy of these rules: ingress/cluster-listener.ts and ingress/framed-session.ts both
 * call it.
 */
import type { Clock } from '../state/types.js';
import type { Envelope } from '../spool/types.js';
import { newQueueId } from '../spool/queue-id.js';
import { replies, type SmtpReply } from './replies.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { MAX_PEER_HOPS, openFacts, pendingRcpts, splitFacts, type PeerFacts } from '../cluster/peer-facts.js';
import type { ReplicaSink } from '../cluster/replica-sink.js';

export const clusterReplies = {
  notSigned: { code: 554, enhanced: '5.7.0', text: 'Not a peer message: X-Sluice-Peer missing, or its signature does not check out' },
  tooManyHops: { code: 554, enhanced: '5.4.6', text: `Too many hops between nodes (more than ${MAX_PEER_HOPS}): refused to end a loop` },
  noReplicas: { code: 451, enhanced: '4.3.0', text: 'This node keeps no replicas (no replica store): try another peer' },
  notAPeer: { code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid' },
  badBatch: { code: 554, enhanced: '5.6.0', text: 'Malformed X-Sluice-Peer-Batch: send the messages one at a time' },
  itemFailed: { code: 451, enhanced: '4.3.0', text: 'Local error taking a peer message: try again' },
  /** The framed protocol: a MSG before a HELLO that checked out. */
  helloFirst: { code: 530, enhanced: '5.7.0', text: 'Authentication required: send HELLO first' },
  /** The framed protocol: more messages in flight on one connection than HELLO_OK allowed. */
  tooManyInFlight: { code: 421, enhanced: '4.7.0', text: 'Too many messages in flight on this connection' },
  /** The framed protocol: no frame within the listener's socket_timeout. */
  idle: { code: 421, enhanced: '4.4.2', text: 'Idle too long, closing connection' },
} as const satisfies Record<string, SmtpReply>;

export interface PeerIntakeDeps {
  readonly secret: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Spools (durable) and queues a handed-off message; throws SluiceError SPOOL_FULL when the disk is full. */
  readonly accept: (envelope: Envelope, body: Buffer) => Promise<void>;
  /** The replica store; absent: replicas get 451 4.3.0. */
  readonly replicas?: ReplicaSink | undefined;
  /** A message taken (handoff or replica) or refused, for the metric. */
  readonly received?: ((kind: PeerFacts['kind'] | 'unsigned', ok: boolean) => void) | undefined;
}

/** Where a peer message came from, for the log. */
export interface PeerOrigin {
  readonly session: string;
  readonly client: string | undefined;
  /** The node id the peer authenticated as. */
  readonly node: string;
  /** The dialect it came in: an SMTP transaction or a MSG frame. */
  readonly via: 'smtp' | 'framed';
}

/** A peer message whose facts checked out, or the reply that refuses it. */
export type Opened = { readonly ok: true; readonly facts: PeerFacts; readonly body: Buffer } | { readonly ok: false; readonly reply: SmtpReply };

export class PeerIntake {
  constructor(private readonly deps: PeerIntakeDeps) {}

  /** Checks one message (facts field first): signature, then hops. Counts and logs a refusal. */
  open(message: Buffer, from: PeerOrigin): Opened {
    const split = splitFacts(message);
    const facts = split ? openFacts(this.deps.secret, split.value, split.body) : null;
    if (!split || !facts) {
      this.deps.received?.('unsigned', false);
      this.deps.log.warn({ event: 'peer_unsigned', session: from.session, client: from.client, node: from.node }, 'cluster listener: a message without valid X-Sluice-Peer facts: refused');
      return { ok: false, reply: clusterReplies.notSigned };
    }
    if (facts.hops + 1 > MAX_PEER_HOPS) {
      this.deps.received?.(facts.kind, false);
      this.deps.log.warn({ event: 'peer_loop', origin: facts.origin, origin_queue_id: facts.queueId, hops: facts.hops }, 'cluster listener: too many hops');
      return { ok: false, reply: clusterReplies.tooManyHops };
    }
    return { ok: true, facts, body: split.body };
  }

  /**
   * Takes a message that checked out; the reply is a 250 only once it is durable here.
   * `rcpts`: the SMTP transaction's, for a message alone over SMTP; else the facts' own
   * recipients not yet done. Throws on a local failure (the caller answers 451).
   */
  take(facts: PeerFacts, body: Buffer, from: PeerOrigin, rcpts?: readonly string[]): Promise<SmtpReply> {
    if (facts.kind === 'replica') return this.keepReplica(facts, body);
    return this.takeHandoff(facts, rcpts ?? pendingRcpts(facts), body, from);
  }

  /** open() then take(), counted: the whole path of one message. Never throws. */
  async receive(message: Buffer, from: PeerOrigin): Promise<SmtpReply> {
    const opened = this.open(message, from);
    if (!opened.ok) return opened.reply;
    try {
      const reply = await this.take(opened.facts, opened.body, from);
      this.deps.received?.(opened.facts.kind, reply.code < 300);
      return reply;
    } catch (err) {
      this.deps.received?.(opened.facts.kind, false);
      this.deps.log.error({ err, session: from.session, origin: opened.facts.origin, origin_queue_id: opened.facts.queueId }, 'cluster listener: taking a peer message failed');
      return replies.localError;
    }
  }

  private async keepReplica(facts: PeerFacts, body: Buffer): Promise<SmtpReply> {
    if (!this.deps.replicas) return clusterReplies.noReplicas;
    await this.deps.replicas.keep(facts, body);
    return { code: 250, enhanced: '2.0.0', text: `Ok: replica of ${facts.origin}/${facts.queueId} kept` };
  }

  /** A handoff: a new local queue id, the sender's facts kept on the envelope (`peer`). */
  private async takeHandoff(facts: PeerFacts, rcpts: readonly string[], body: Buffer, origin: PeerOrigin): Promise<SmtpReply> {
    const from = origin.node;
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
    this.deps.log.info({ event: 'handoff_received', queue_id: id, from, origin: facts.origin, origin_queue_id: facts.queueId, rcpts: rcpts.length, hops, pool: envelope.pool, class: envelope.class, via: origin.via }, `handed over by ${from}`);
    return { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${id}` };
  }
}
