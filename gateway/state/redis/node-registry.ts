import { z } from 'zod';
import type { NodeInfo, NodeRegistry } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { StateKeys } from './keys.js';
import { asArray, badReply, parseJson } from './replies.js';
import { heartbeatNode } from './scripts/heartbeat-node-2.js';
import { liveNodes } from './scripts/live-nodes-2.js';

const nodeLoadSchema = z.object({
  v: z.literal(1),
  cpu: z.number(),
  memory_bytes: z.number(),
  loop_lag_ms: z.number(),
  disk_free_bytes: z.number().nullable(),
  connections_in: z.number(),
  connections_out: z.number(),
  queue_depth: z.number(),
  send_rate: z.number(),
});

const nodeInfoSchema = z.object({
  id: z.string(),
  address: z.string(),
  startedAt: z.number(),
  version: z.string(),
  draining: z.boolean().optional(),
  cluster: z.string().optional(),
  board: z.unknown().optional(),
  // A peer on another version may publish another shape: it is then shown without load, not dropped.
  load: nodeLoadSchema.optional().catch(undefined),
  // Optional: a peer of a release before config rollout does not carry them.
  configVersion: z.number().int().nonnegative().optional().catch(undefined),
  configFailed: z.number().int().positive().optional().catch(undefined),
});

/** Nodes by heartbeat: a sorted set of ids scored by expiry (Redis clock) + a hash of info. */
export class RedisNodeRegistry implements NodeRegistry {
  readonly #conn: RedisConnection;
  readonly #keys: StateKeys;

  constructor(conn: RedisConnection, keys: StateKeys) {
    this.#conn = conn;
    this.#keys = keys;
  }

  async heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    const json = JSON.stringify(nodeInfoSchema.parse(info));
    await this.#conn.script(heartbeatNode, this.#registryKeys(), [info.id, Math.ceil(ttlMs), json]);
  }

  async live(): Promise<readonly NodeInfo[]> {
    const reply = asArray('live nodes', await this.#conn.script(liveNodes, this.#registryKeys(), []));
    const nodes: NodeInfo[] = [];
    for (const item of reply) {
      if (item === null) continue; // an id without info (a half-done leave): not usable
      if (typeof item !== 'string') throw badReply('live nodes', reply);
      const parsed = nodeInfoSchema.safeParse(parseJson('live nodes', item));
      if (!parsed.success) throw badReply('live nodes', item);
      nodes.push(parsed.data);
    }
    return nodes;
  }

  async leave(id: string): Promise<void> {
    await this.#conn.run('node leave', (redis) =>
      redis.multi().zrem(this.#keys.nodes(), id).hdel(this.#keys.nodeInfo(), id).hdel(this.#keys.nodeShares(), id).exec(),
    );
  }

  async publishShares(id: string, shares: unknown): Promise<void> {
    await this.#conn.run('node shares', (redis) => redis.hset(this.#keys.nodeShares(), id, JSON.stringify(shares)));
  }

  async shares(): Promise<ReadonlyMap<string, unknown>> {
    const all = await this.#conn.run('node shares', (redis) => redis.hgetall(this.#keys.nodeShares()));
    const out = new Map<string, unknown>();
    // A field that does not parse is left out: its node's weights wait for its next publication.
    for (const [id, json] of Object.entries(all)) {
      try {
        out.set(id, JSON.parse(json) as unknown);
      } catch {
        continue;
      }
    }
    return out;
  }

  #registryKeys(): string[] {
    return [this.#keys.nodes(), this.#keys.nodeInfo()];
  }
}
