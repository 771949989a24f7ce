/**
 * Sends messages to peers' cluster listeners (nodemailer's SMTPConnection does the
 * protocol): STARTTLS, AUTH PLAIN as this node with the credential the cluster secret
 * derives, then the message with its signed X-Sluice-Peer field first. `send` resolves
 * only after the peer's 250, which the peer gives once the message is durable there;
 * anything else rejects with a PeerSendError carrying the peer's reply. Connections are
 * kept open per peer (up to `maxConnections`) and reused: the TLS handshake and AUTH
 * are paid once, not per message.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SluiceError } from '../errors.js';
import { factsField, peerPassword, sealFacts, type PeerFacts } from './peer-facts.js';

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
}

type Conn = InstanceType<typeof SMTPConnection>;

interface Slot {
  conn: Conn;
  broken: boolean;
  idleTimer: NodeJS.Timeout | null;
}

interface PeerPool {
  idle: Slot[];
  open: number;
  waiters: ((slot: Slot | null) => void)[];
}

export class PeerClient {
  private readonly pools = new Map<string, PeerPool>();
  private closed = false;

  constructor(private readonly opts: PeerClientOptions) {}

  /** Passes `body` with `facts` to `peer` for the recipients in facts.envelope.rcpts not in facts.done. */
  async send(peer: PeerAddress, facts: PeerFacts, body: Buffer): Promise<PeerReceipt> {
    const done = new Set(facts.done);
    const rcpts = facts.envelope.rcpts.filter((r) => !done.has(r));
    if (rcpts.length === 0) throw new PeerSendError(`nothing to send to ${peer.id}: every recipient is done`, 0);
    const message = Buffer.concat([Buffer.from(factsField(sealFacts(this.opts.secret, facts, body)), 'latin1'), body]);
    const slot = await this.acquire(peer);
    try {
      const receipt = await transmit(slot, facts.envelope.mailFrom, rcpts, message, peer.id, (this.opts.timeoutMs ?? 10_000) * 2);
      this.release(peer, slot);
      return receipt;
    } catch (err) {
      slot.broken = true;
      this.release(peer, slot);
      throw err;
    }
  }

  /** Closes every connection; sends after this reject. */
  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) {
      for (const w of pool.waiters.splice(0)) w(null);
      for (const slot of pool.idle.splice(0)) quit(slot);
    }
  }

  private pool(address: string): PeerPool {
    let p = this.pools.get(address);
    if (!p) {
      p = { idle: [], open: 0, waiters: [] };
      this.pools.set(address, p);
    }
    return p;
  }

  private async acquire(peer: PeerAddress): Promise<Slot> {
    if (this.closed) throw new PeerSendError('peer client closed', 0);
    const pool = this.pool(peer.address);
    for (let slot = pool.idle.pop(); slot; slot = pool.idle.pop()) {
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      if (!slot.broken) return slot;
      pool.open--;
      quit(slot);
    }
    if (pool.open >= (this.opts.maxConnections ?? 4)) {
      const slot = await new Promise<Slot | null>((resolve) => pool.waiters.push(resolve));
      if (slot) return slot;
      return this.acquire(peer);
    }
    pool.open++;
    try {
      return await this.connect(peer);
    } catch (err) {
      pool.open--;
      // Someone waiting gets a chance to open its own connection.
      pool.waiters.shift()?.(null);
      throw err;
    }
  }

  private release(peer: PeerAddress, slot: Slot): void {
    const pool = this.pool(peer.address);
    if (slot.broken || this.closed) {
      pool.open--;
      quit(slot);
      pool.waiters.shift()?.(null);
      return;
    }
    const waiter = pool.waiters.shift();
    if (waiter) return waiter(slot);
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
