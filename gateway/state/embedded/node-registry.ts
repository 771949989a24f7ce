import type { Clock, NodeInfo, NodeRegistry } from '../types.js';

/**
 * The registry of a single node: the node heartbeats itself, so it is live while it
 * runs; nothing to share, nothing to persist.
 */
export class EmbeddedNodeRegistry implements NodeRegistry {
  readonly #clock: Clock;
  readonly #nodes = new Map<string, { info: NodeInfo; expiresAt: number }>();
  readonly #shares = new Map<string, unknown>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    this.#nodes.set(info.id, { info: { ...info }, expiresAt: this.#clock.now() + ttlMs });
  }

  async live(): Promise<readonly NodeInfo[]> {
    const now = this.#clock.now();
    const live: NodeInfo[] = [];
    for (const [id, node] of this.#nodes) {
      if (node.expiresAt > now) live.push(node.info);
      else this.#nodes.delete(id);
    }
    return live;
  }

  async leave(id: string): Promise<void> {
    this.#nodes.delete(id);
    this.#shares.delete(id);
  }

  async publishShares(id: string, shares: unknown): Promise<void> {
    this.#shares.set(id, shares);
  }

  async shares(): Promise<ReadonlyMap<string, unknown>> {
    return new Map(this.#shares);
  }
}
