/**
 * What the node uses to pass messages to peers (handoffs, replicas, drain): the framed
 * protocol (framed-peer-client.ts) to every peer that speaks it, SMTP (peer-client.ts) to
 * the others. A peer whose cluster listener answers the framed client's TLS ClientHello
 * with plain text (an SMTP greeting: a node of an earlier version, during a rolling
 * upgrade) is sent SMTP for SMTP_ONLY_MS, then tried framed again; the message that found
 * out goes over SMTP at once. Both clients keep one connection per peer and lane open
 * ahead of need (`warm`) and resolve a send only on the peer's 250, once the message is
 * durable there.
 */
import { FramedPeerClient, SmtpOnlyPeerError } from './framed-peer-client.js';
import { PeerClient, type PeerAddress, type PeerClientOptions, type PeerReceipt } from './peer-client.js';
import type { PeerFacts } from './peer-facts.js';

/** A peer found to speak only SMTP is not tried framed again for this long. */
export const SMTP_ONLY_MS = 30_000;

export interface PeerTransportOptions extends PeerClientOptions {
  /** false: SMTP to every peer (as before the framed protocol). Default true. */
  readonly framed?: boolean;
  readonly now?: () => number;
}

export class PeerTransport {
  readonly smtp: PeerClient;
  private readonly framed: FramedPeerClient | null;
  /** Peer address → until when it is sent SMTP. */
  private readonly smtpOnly = new Map<string, number>();
  private readonly now: () => number;

  constructor(opts: PeerTransportOptions) {
    this.now = opts.now ?? Date.now;
    this.smtp = new PeerClient(opts);
    this.framed =
      opts.framed === false
        ? null
        : new FramedPeerClient({ nodeId: opts.nodeId, secret: opts.secret, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}), smtpOnly: (peer) => this.smtpOnly.set(peer.address, this.now() + SMTP_ONLY_MS) });
  }

  /** Which protocol `peer` is sent now. */
  protocolFor(peer: PeerAddress): 'framed' | 'smtp' {
    if (!this.framed) return 'smtp';
    const until = this.smtpOnly.get(peer.address);
    if (until === undefined) return 'framed';
    if (until > this.now()) return 'smtp';
    this.smtpOnly.delete(peer.address);
    return 'framed';
  }

  /** Resolves on the peer's 250 (the message is durable there); rejects with a PeerSendError. */
  send(peer: PeerAddress, facts: PeerFacts, body: Buffer): Promise<PeerReceipt> {
    if (!this.framed || this.protocolFor(peer) === 'smtp') return this.smtp.send(peer, facts, body);
    return this.framed.send(peer, facts, body).catch((err: unknown) => {
      if (err instanceof SmtpOnlyPeerError) return this.smtp.send(peer, facts, body);
      throw err;
    });
  }

  warm(peer: PeerAddress, kind: PeerFacts['kind']): void {
    if (!this.framed || this.protocolFor(peer) === 'smtp') this.smtp.warm(peer, kind);
    else this.framed.warm(peer, kind);
  }

  close(): void {
    this.framed?.close();
    this.smtp.close();
  }
}
