/**
 * This node's end of the node-to-node transport: its cluster listener(s) (built in
 * ingress/cluster-listener.ts by the composition root), the client that sends to peers, the address it advertises in the node registry, and the peers it
 * can reach (from the registry's live set, refreshed by each heartbeat). The composition
 * root builds one when `[cluster] secret` is set and gives the parts that need a peer
 * (handoff, drain, replicas) this narrow interface.
 */
import type { Config, ListenConfig } from '../config/schema.js';
import type { NodeInfo } from '../state/types.js';
import type { Logger } from '../observe/logger.js';
import type { PeerAddress } from './peer-client.js';
import { PeerTransport } from './peer-transport.js';

/** An SMTP reply as the listeners send it (ingress/replies.ts SmtpReply). */
export interface RefusalReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

/** What the link needs of a cluster listener (ingress/cluster-listener.ts). */
export interface ClusterListenerPort {
  listen(): Promise<number>;
  refuseNew(reply: RefusalReply | null): void;
  stop(timeoutMs: number): Promise<void>;
}

export interface ClusterLinkDeps {
  readonly nodeId: string;
  readonly hostname: string;
  readonly cluster: NonNullable<Config['cluster']> & { readonly secret: string };
  readonly log: Logger;
  /** Bytes in one batch to a peer at most: this node's [relay] max_message_size, which a peer of the same fleet takes. */
  readonly maxBatchBytes?: number;
}

/** What the rest of the node asks of the cluster transport. */
export interface PeerDirectory {
  /** A live peer (not this node, not draining) with a cluster address, or null. */
  peer(id: string): PeerAddress | null;
  /** Every such peer, in id order. */
  peers(): readonly PeerAddress[];
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

export class ClusterLink implements PeerDirectory {
  readonly client: PeerTransport;
  readonly listeners: ClusterListenerPort[] = [];
  private live = new Map<string, NodeInfo>();
  private address: string | undefined;

  constructor(private readonly deps: ClusterLinkDeps) {
    this.client = new PeerTransport({ nodeId: deps.nodeId, secret: deps.cluster.secret, hostname: deps.hostname, maxBatchBytes: Math.min(4 * 1024 * 1024, deps.maxBatchBytes ?? Infinity) });
    this.address = deps.cluster.advertise;
  }

  /** Binds one `mode = "cluster"` listener (made by the composition root); returns its port. */
  async bind(l: ClusterListenerPort, listen: ListenConfig): Promise<number> {
    const port = await l.listen();
    this.listeners.push(l);
    // Default advertise: the first cluster listener, when it names one address.
    if (this.address === undefined && !WILDCARDS.has(listen.host)) this.address = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`;
    if (this.address === undefined) this.deps.log.warn({ event: 'cluster_no_advertise' }, 'the cluster listener binds a wildcard address and [cluster] advertise is not set: peers cannot hand this node mail');
    return port;
  }

  /** What this node publishes in the registry (NodeInfo.cluster). */
  get advertise(): string | undefined {
    return this.listeners.length > 0 ? this.address : undefined;
  }

  /**
   * The registry's live set, after each read. Each live peer gets a connection opened
   * ahead of need on the handoff lane, and on the replica lane with `replicas = 2`: the
   * first message to a peer does not wait for TLS and HELLO (peer-transport.ts `warm`).
   */
  observe(nodes: readonly NodeInfo[]): void {
    this.live = new Map(nodes.map((n) => [n.id, n]));
    for (const peer of this.peers()) {
      this.client.warm(peer, 'handoff');
      if (this.deps.cluster.replicas === 2) this.client.warm(peer, 'replica');
    }
  }

  peer(id: string): PeerAddress | null {
    if (id === this.deps.nodeId) return null;
    const n = this.live.get(id);
    if (!n || n.draining || !n.cluster) return null;
    return { id: n.id, address: n.cluster };
  }

  peers(): readonly PeerAddress[] {
    return [...this.live.keys()].sort().flatMap((id) => this.peer(id) ?? []);
  }

  refuseNew(reply: RefusalReply | null): void {
    for (const l of this.listeners) l.refuseNew(reply);
  }

  async stop(timeoutMs: number): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.stop(timeoutMs)));
    this.client.close();
  }
}
