import { randomBytes } from 'node:crypto';
import { EmbeddedState } from './embedded/embedded-state.js';
import { RedisState } from './redis/redis-state.js';
import { ResilientState } from './resilient.js';
import { RedisReplicaLedger } from './redis/replica-ledger.js';
import type { ReplicaLedger } from './replica-ledger.js';
import type { Clock, StateBackend } from './types.js';

export interface CreateStateOptions {
  /** The node's data dir (`[node] data_dir`). */
  readonly dataDir: string;
  /** `[cluster] redis_url`; absent: a single node on embedded state. */
  readonly redisUrl?: string;
  readonly clock: Clock;
  /** Cluster only: fleet size assumed until the registry has answered once (default 1). */
  readonly nodeCountHint?: number;
  /** Cluster only: Redis key prefix (default "sluice:"). */
  readonly redisPrefix?: string;
  /** Cluster only: per-command timeout (default 500 ms). */
  readonly commandTimeoutMs?: number;
  /** Cluster only: how long to wait for Redis at start before running degraded (default 2 s). */
  readonly connectWaitMs?: number;
  /**
   * Cluster only: the node that takes connection leases (`[node] id`). Its first acquire
   * drops what an earlier run of this node left in Redis. Absent (the CLI): takes none of its own.
   */
  readonly leaseHolder?: string;
}

/** A backend plus whether it is running on local shares (for /readyz, metrics, logs). */
export interface ManagedState extends StateBackend {
  degraded(): boolean;
}

/**
 * The one place that picks a backend (STYLE.md: the composition root alone chooses).
 * A cluster node starts even when Redis is down: it comes up degraded and switches to
 * the shared state when Redis answers.
 */
export async function createState(options: CreateStateOptions): Promise<ManagedState> {
  if (options.redisUrl === undefined || options.redisUrl === '') {
    const state = new EmbeddedState({ dataDir: options.dataDir, clock: options.clock });
    await state.open();
    return state;
  }
  const shared = new RedisState({
    url: options.redisUrl,
    ...(options.redisPrefix === undefined ? {} : { prefix: options.redisPrefix }),
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
    ...(options.leaseHolder === undefined ? {} : { leaseOwner: { node: options.leaseHolder, boot: randomBytes(6).toString('hex') } }),
  });
  const state = new ResilientState({
    shared,
    dataDir: options.dataDir,
    clock: options.clock,
    ...(options.nodeCountHint === undefined ? {} : { nodeCountHint: options.nodeCountHint }),
  });
  await state.open();
  await shared.waitReady(options.connectWaitMs ?? 2_000);
  return state;
}

/** The replica ledger of a cluster (`[cluster] replicas = 2`), on its own Redis connection. */
export async function createReplicaLedger(options: { readonly redisUrl: string; readonly redisPrefix: string; readonly commandTimeoutMs: number }): Promise<ReplicaLedger> {
  const ledger = new RedisReplicaLedger({ url: options.redisUrl, prefix: options.redisPrefix, commandTimeoutMs: options.commandTimeoutMs });
  await ledger.waitReady(2_000);
  return ledger;
}
