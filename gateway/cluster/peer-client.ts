/**
 * Sends messages to peers' cluster listeners (nodemailer's SMTPConnection does the
 * protocol): STARTTLS, AUTH PLAIN as this node with the credential the cluster secret
 * derives, then the message with its signed X-Sluice-Peer field first. `send` resolves
 * only after the peer's 250, which the peer gives once the message is durable there;
 * anything else rejects with a PeerSendError carrying the peer's reply. Connections are
 * kept open per peer and lane (replicas, handoffs: up to `maxConnections` each) and reused:
 * the TLS handshake and AUTH are paid once, not per message.
 *
 * Messages for a peer whose connections are all busy wait, and go together in the next
 * transaction as one batch (peer-batch.ts): an idle link sends each message at once and
 * alone, a busy one sends many per transaction. A batch the peer refuses as a whole with a
 * 5xx (a peer of an older version, a size limit, one item it will not take) is sent again
 * one message at a time, so that each message gets its own answer.
 *
 * `warm` keeps one connection open per peer and lane ahead of the first message: opening
 * one costs about 110 ms here, 100 of them smtp-server's pause before its greeting (which
 * catches clients that talk too soon), and the first handoff to each peer waited for it
 * (135 to 155 ms from accepted to handed over, against 4 ms on an open connection).
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SluiceError } from '../errors.js';
import { BATCH_RCPT, encodeBatch, MAX_BATCH_ITEMS, parseBatchReply } from './peer-batch.js';
import { peerMessage, peerPassword, pendingRcpts, type PeerFacts } from './peer-facts.js';

export interface PeerAddress {
  readonly id: string;
  /** host:port of its cluster listener (NodeInfo.cluster). */
  readonly address: string;
}

export interface PeerReceipt {
  /** The peer's final reply ("250 2.0.0 Ok: queued as ..."). */
  readonly reply: string;
  /** Recipients the peer refused at RCPT (absent from its copy); empty as a rule. */
  readonly refused: readonly string[];
}

export class PeerSendError extends SluiceError {
  /** The peer's reply code, or 0 when there was none (connection, TLS, timeout). */
  readonly replyCode: number;
  constructor(message: string, replyCode: number, cause?: unknown) {
    super('PEER_SEND_FAILED', message, { cause });
    this.name = 'PeerSendError';
    this.replyCode = replyCode;
  }

  /** A 5xx from the peer: sending the same message to it again will not help. */
  get permanent(): boolean {
    return this.replyCode >= 500;
  }
}

export interface PeerClientOptions {
  readonly nodeId: string;
  readonly secret: string;
  /** EHLO name. */
  readonly hostname: string;
  /** Open connections per peer at most (default 4). */
  readonly maxConnections?: number;
  /** Connect and per-command timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** An unused connection closes after this long (default 30 s). */
  readonly idleMs?: number;
  /** Bytes in one batch at most (default 4 MB; a larger message goes alone). Keep it under the peers' [relay] max_message_size. */
  readonly maxBatchBytes?: number;
}

type Conn = InstanceType<typeof SMTPConnection>;

/** A peer and the lane to it (replicas or handoffs): each lane has its own connections and queue. */
interface Route extends PeerAddress {
  readonly key: string;
}

interface Slot {
  conn: Conn;
  broken: boolean;
  idleTimer: NodeJS.Timeout | null;
}

interface PeerPool {
  /** Connections up and free, the most recently freed last. */
  idle: Slot[];
  /** Connections up or being opened, free or in a transaction. */
  open: number;
  /** Of `open`, being opened. */
  opening: number;
  /** After a warm-up that failed: no other before this time (ms since the epoch). */
  warmAfter: number;
  /** Messages waiting for a connection, oldest first. */
  queue: Pending[];
}

/** A message waiting to go: its bytes (facts field first), envelope, and its caller. */
interface Pending {
  readonly message: Buffer;
  readonly from: string;
  readonly rcpts: readonly string[];
  readonly resolve: (r: PeerReceipt) => void;
  readonly reject: (err: unknown) => void;
  /** Goes in a transaction of its own (its batch was refused as a whole). */
  readonly alone?: boolean;
}

export class PeerClient {
  private readonly pools = new Map<string, PeerPool>();
  private closed = false;

  constructor(private readonly opts: PeerClientOptions) {}

  /** Passes `body` with `facts` to `peer` for the recipients in facts.envelope.rcpts not in facts.done. */
  async send(peer: PeerAddress, facts: PeerFacts, body: Buffer): Promise<PeerReceipt> {
    const rcpts = pendingRcpts(facts);
    if (rcpts.length === 0) throw new PeerSendError(`nothing to send to ${peer.id}: every recipient is done`, 0);
    if (this.closed) throw new PeerSendError('peer client closed', 0);
    const message = peerMessage(this.opts.secret, facts, body);
    // Replicas and handoffs go over connections of their own (lanes): taking a handoff
    // makes the peer replicate it, possibly back to this node, so a replica that waited
    // behind handoffs could wait on itself. In one lane, two nodes handing off to each other
    // stalled until the replica timeout (5 s) with every connection taken by handoffs.
    const route = laneOf(peer, facts.kind);
    return new Promise<PeerReceipt>((resolve, reject) => {
      this.pool(route).queue.push({ message, from: facts.envelope.mailFrom, rcpts, resolve, reject });
      this.pump(route);
    });
  }

  /**
   * Opens a connection to `peer` on `kind`'s lane when the lane has none (open, idle or
   * being opened), so that the next message there does not wait for TCP, the greeting,
   * STARTTLS and AUTH. It stays idle like any other (closed after `idleMs` unused, opened
   * again at the next call). A failed attempt is not made again for WARM_RETRY_MS; a send
   * meanwhile opens its own connection and reports its own error.
   */
  warm(peer: PeerAddress, kind: PeerFacts['kind']): void {
    if (this.closed) return;
    const route = laneOf(peer, kind);
    const pool = this.pool(route);
    dropBroken(pool);
    if (pool.open > 0 || pool.warmAfter > Date.now()) return;
    this.openSpare(route, true);
  }

  /** Closes every connection; sends after this (and messages still waiting) reject. */
  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) {
      for (const slot of pool.idle.splice(0)) quit(slot);
      for (const m of pool.queue.splice(0)) m.reject(new PeerSendError('peer client closed', 0));
    }
  }

  private pool(route: Route): PeerPool {
    let p = this.pools.get(route.key);
    if (!p) {
      p = { idle: [], open: 0, opening: 0, warmAfter: 0, queue: [] };
      this.pools.set(route.key, p);
    }
    return p;
  }

  /**
   * Starts a transaction on each free connection, each taking what waits (up to a batch).
   * With none free, one more connection opens in the background, and what waits goes over
   * whichever connection is free first: a message never waits ~110 ms for a new
   * connection (smtp-server's greeting pause) while one in use frees in a few ms (the
   * max of the 250 with replicas = 2 was 117 to 139 ms when each message waited for the
   * connection opened for it).
   */
  private pump(peer: Route): void {
    const pool = this.pool(peer);
    while (pool.queue.length > 0) {
      const slot = pool.idle.pop();
      if (!slot) {
        if (pool.open < (this.opts.maxConnections ?? 4) && pool.opening === 0) this.openSpare(peer, false);
        return;
      }
      if (slot.broken) {
        // The peer closed it while it was idle.
        pool.open--;
        quit(slot);
        continue;
      }
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      const batch = takeBatch(pool.queue, this.opts.maxBatchBytes ?? 4 * 1024 * 1024);
      void this.transaction(peer, batch, slot).finally(() => this.pump(peer));
    }
  }

  /**
   * Opens one connection in the background; once up it is idle (and pump() gives it what
   * waits). When it cannot be opened and the lane has no other connection, what waits
   * there fails with that error (it would wait for nothing); a warm-up that fails pauses
   * further warm-ups for WARM_RETRY_MS.
   */
  private openSpare(peer: Route, warming: boolean): void {
    const pool = this.pool(peer);
    pool.open++;
    pool.opening++;
    this.connect(peer).then(
      (slot) => {
        pool.opening--;
        this.release(peer, slot);
        this.pump(peer);
      },
      (err: unknown) => {
        pool.opening--;
        pool.open--;
        if (warming) pool.warmAfter = Date.now() + WARM_RETRY_MS;
        if (pool.open === 0) for (const m of pool.queue.splice(0)) m.reject(err);
      },
    );
  }

  /** One transaction on `slot`: a message alone, or a batch; settles every caller in it. */
  private async transaction(peer: Route, batch: Pending[], slot: Slot): Promise<void> {
    const limit = (this.opts.timeoutMs ?? 10_000) * 2;
    const [only] = batch;
    try {
      if (only && batch.length === 1) {
        only.resolve(await transmit(slot, only.from, only.rcpts, only.message, peer.id, limit));
      } else {
        const receipt = await transmit(slot, '', [BATCH_RCPT], encodeBatch(batch.map((m) => m.message)), peer.id, limit);
        settleBatch(batch, receipt, peer.id);
      }
      this.release(peer, slot);
    } catch (err) {
      // Not reused: after a refused transaction the connection's state is not ours to know.
      slot.broken = true;
      this.release(peer, slot);
      if (batch.length > 1 && err instanceof PeerSendError && err.permanent) {
        // Refused as a whole: each message goes again in a transaction of its own, first in line.
        this.pool(peer).queue.unshift(...batch.map((m) => ({ ...m, alone: true })));
        return;
      }
      for (const m of batch) m.reject(err);
    }
  }

  /** A connection back from a transaction or just opened: idle for the next one, or closed. */
  private release(peer: Route, slot: Slot): void {
    const pool = this.pool(peer);
    if (slot.broken || this.closed) {
      pool.open--;
      quit(slot);
      return;
    }
    slot.idleTimer = setTimeout(() => {
      const i = pool.idle.indexOf(slot);
      if (i >= 0) pool.idle.splice(i, 1);
      pool.open--;
      quit(slot);
    }, this.opts.idleMs ?? 30_000);
    slot.idleTimer.unref();
    pool.idle.push(slot);
  }

  private connect(peer: PeerAddress): Promise<Slot> {
    const { host, port } = splitHostPort(peer.address);
    const timeout = this.opts.timeoutMs ?? 10_000;
    const conn = new SMTPConnection({
      host,
      port,
      name: this.opts.hostname,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      requireTLS: true,
      // Nodes often run on self-signed certificates: what proves a peer is the AUTH
      // credential and the signed facts (both from [cluster] secret); TLS keeps the mail private.
      tls: { rejectUnauthorized: false },
      logger: false,
      debug: false,
    });
    const slot: Slot = { conn, broken: false, idleTimer: null };
    conn.on('error', () => (slot.broken = true));
    conn.on('end', () => (slot.broken = true));
    return new Promise((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown) => {
        // Once: closing the connection below emits 'end', which must not replace the first cause.
        if (failed) return;
        failed = true;
        slot.broken = true;
        const e = err as { responseCode?: number; message?: string };
        reject(new PeerSendError(`cannot reach peer ${peer.id} at ${peer.address}: ${String(e.message ?? err).slice(0, 200)}`, e.responseCode ?? 0, err));
        quit(slot);
      };
      // nodemailer reports a failed connect (ECONNREFUSED from a peer just killed), and a
      // connection that closes or times out during STARTTLS or AUTH, only as an 'error' or
      // 'end' event, never through the callbacks: without these the send waits forever (and
      // holds one of the peer's connection slots).
      const closed = () => fail(new Error('connection closed before AUTH completed'));
      const settle = () => {
        conn.removeListener('error', fail);
        conn.removeListener('end', closed);
      };
      conn.once('error', fail);
      conn.once('end', closed);
      const limit = setTimeout(() => fail(new Error(`no connection and AUTH within ${timeout * 2} ms`)), timeout * 2);
      limit.unref();
      conn.once('end', () => clearTimeout(limit));
      conn.connect((err) => {
        if (err) {
          clearTimeout(limit);
          settle();
          return fail(err);
        }
        conn._socket?.setNoDelay?.(true);
        conn.login({ user: this.opts.nodeId, pass: peerPassword(this.opts.secret, this.opts.nodeId) }, (lerr) => {
          clearTimeout(limit);
          settle();
          if (lerr) fail(lerr);
          else resolve(slot);
        });
      });
    });
  }
}

/** Idle connections the peer closed count as open until seen: drop them. */
function dropBroken(pool: PeerPool): void {
  pool.idle = pool.idle.filter((slot) => {
    if (!slot.broken) return true;
    pool.open--;
    quit(slot);
    return false;
  });
}

/** A warm-up that failed (peer down, refused AUTH) is not tried again for this long. */
const WARM_RETRY_MS = 5_000;

/** A peer and one lane to it: replicas and handoffs never share a connection. */
function laneOf(peer: PeerAddress, kind: PeerFacts['kind']): Route {
  return { id: peer.id, address: peer.address, key: `${kind}\u0000${peer.address}` };
}

/** Takes the oldest waiting messages for one transaction: up to MAX_BATCH_ITEMS and `maxBytes` (the first always). */
function takeBatch(queue: Pending[], maxBytes: number): Pending[] {
  if (queue[0]?.alone) return queue.splice(0, 1);
  let bytes = 0;
  let n = 0;
  while (n < queue.length && n < MAX_BATCH_ITEMS) {
    const item = queue[n] as Pending;
    const size = item.message.length;
    if (n > 0 && (bytes + size > maxBytes || item.alone)) break;
    bytes += size;
    n++;
  }
  return queue.splice(0, n);
}

/** Resolves the items the peer's 250 says it took, rejects the others (451: they may be sent again). */
function settleBatch(batch: readonly Pending[], receipt: PeerReceipt, peerId: string): void {
  const taken = parseBatchReply(receipt.reply, batch.length);
  if (taken === null) {
    for (const m of batch) m.reject(new PeerSendError(`peer ${peerId} answered a batch of ${batch.length} without saying what it took: ${receipt.reply.slice(0, 200)}`, 0));
    return;
  }
  batch.forEach((m, i) => {
    if (taken[i]) m.resolve({ reply: receipt.reply, refused: [] });
    else m.reject(new PeerSendError(`peer ${peerId} did not take this message of a batch (it logs why): ${receipt.reply.slice(0, 200)}`, 451));
  });
}

function transmit(slot: Slot, from: string, to: readonly string[], message: Buffer, peerId: string, limitMs: number): Promise<PeerReceipt> {
  return new Promise((resolve, reject) => {
    // A peer killed mid-transaction: nodemailer emits 'error' / 'end' and may never call back.
    const gone = () => reject(new PeerSendError(`peer ${peerId} closed the connection`, 0));
    slot.conn.once('error', gone);
    slot.conn.once('end', gone);
    // And if neither comes, the transaction still ends (the slot is then closed as broken),
    // so that no connection slot to this peer stays taken for ever.
    const timer = setTimeout(() => reject(new PeerSendError(`peer ${peerId} did not answer within ${limitMs} ms`, 0)), limitMs);
    timer.unref();
    const settle = () => {
      clearTimeout(timer);
      slot.conn.removeListener('error', gone);
      slot.conn.removeListener('end', gone);
    };
    slot.conn.send({ from, to: [...to], size: message.length }, message, (err, info) => {
      settle();
      if (err) {
        const e = err as { responseCode?: number; response?: string };
        reject(new PeerSendError(`peer ${peerId} did not take the message: ${String(e.response ?? err.message).slice(0, 200)}`, e.responseCode ?? 0, err));
        return;
      }
      resolve({ reply: info.response, refused: (info.rejected ?? []).map(String) });
    });
  });
}

function quit(slot: Slot): void {
  if (slot.idleTimer) clearTimeout(slot.idleTimer);
  try {
    // A connection in a known state says goodbye (QUIT); a broken one is just closed.
    if (slot.broken) slot.conn.close();
    else slot.conn.quit();
  } catch {
    // already closed
  }
}

/** "host:port" or "[v6]:port". */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (!m?.[1] || !m[2]) throw new SluiceError('USAGE', `not a host:port address: "${address}"`);
  return { host: m[1], port: Number(m[2]) };
}
