/**
 * `[cluster] replicas = 2` wiring (docs/CLUSTER.md "Replicas"), for the composition root:
 * the replica store the cluster listener keeps copies in, the spool wrapper that copies
 * each accepted message to a peer before the 250, the keeper that drops final copies and
 * takes over a down node's, and what this node's peers took over while it was down.
 */
import { join } from 'node:path';
import type { Config } from './config/schema.js';
import type { ClusterLink } from './cluster/cluster-link.js';
import type { MembershipView } from './cluster/membership.js';
import { ReplicaKeeper, takenWhileDown } from './cluster/replica-keeper.js';
import { ReplicaStore } from './cluster/replica-store.js';
import { SegmentSpool } from './spool/segment-spool.js';
import { ReplicatedSpool } from './cluster/replicated-spool.js';
import { Replicator } from './cluster/replicator.js';
import type { Metrics } from './observe/metrics.js';
import type { Logger } from './observe/logger.js';
import type { Envelope, Spool } from './spool/types.js';
import { createReplicaLedger } from './state/create.js';
import type { ReplicaLedger } from './state/replica-ledger.js';
import type { Clock } from './state/types.js';
import type { ReplicaSink } from './cluster/replica-sink.js';
import type { EventSink } from './observe/event-types.js';

const DAY = 86_400_000;

export interface ReplicationPorts {
  readonly config: () => Config;
  readonly cluster: NonNullable<Config['cluster']>;
  readonly nodeId: string;
  readonly dataDir: string;
  readonly link: ClusterLink;
  readonly log: Logger;
  readonly clock: Clock;
  readonly metrics: () => Pick<Metrics, 'replicaEvent' | 'peerSent'> | null;
}

export interface Replication {
  readonly store: ReplicaStore;
  readonly ledger: ReplicaLedger;
  /** The spool every commit goes through (SMTP, handoff, DSN, takeover). */
  wrap(spool: Spool): ReplicatedSpool;
  /** At start, before recovery: queue ids peers took over while this node was down. */
  taken(): Promise<ReadonlyMap<string, string>>;
  /** Once the queue runs: keeps the copies in step (every heartbeat) and takes over a node that goes down. */
  start(membership: MembershipView, adopt: (envelope: Envelope, body: Buffer, origin: string) => Promise<void>): void;
  stop(): Promise<void>;
}

export async function buildReplication(p: ReplicationPorts): Promise<Replication> {
  const { cluster, log, clock } = p;
  // Bodies are read back only when a peer is taken over: no body cache.
  const store = await ReplicaStore.open(await SegmentSpool.open(join(p.dataDir, 'replica-log'), { cacheBytes: 0 }), {
    legacyRoot: join(p.dataDir, 'replicas'),
    onCorrupt: (file, reason) => log.error({ event: 'replica_log_damaged', file, reason }, `replica log damaged: ${reason} (those copies are lost; their origin node still holds the mail)`),
  });
  const ledger = await createReplicaLedger({ redisUrl: cluster.redis_url, redisPrefix: cluster.key_prefix, commandTimeoutMs: Math.max(cluster.command_timeout, 2_000) });
  let wrapped: ReplicatedSpool | null = null;
  let timer: NodeJS.Timeout | null = null;
  const replicator = new Replicator({
    self: p.nodeId,
    peers: () => p.link.peers(),
    send: (peer, facts, body) =>
      p.link.client.send(peer, facts, body).then(
        (r) => (p.metrics()?.peerSent('replica', true), r),
        (err: unknown) => {
          p.metrics()?.peerSent('replica', false);
          throw err;
        },
      ),
    policy: () => p.config().cluster?.replica_policy ?? 'best-effort',
    log,
    now: () => clock.now(),
    count: (what, reason) => p.metrics()?.replicaEvent(what === 'single' ? 'single_copy' : 'refused', reason),
  });
  return {
    store,
    ledger,
    wrap: (spool) => (wrapped = new ReplicatedSpool(spool, { self: p.nodeId, replicator, ledger, log })),
    taken: () => takenWhileDown(ledger, p.nodeId, cluster.failover_after, 5_000, log),
    start: (membership, adopt) => {
      const keeper = new ReplicaKeeper({
        self: p.nodeId,
        store,
        ledger,
        liveNodes: async () => new Set(membership.live().map((n) => n.id)),
        adopt,
        log,
        now: () => clock.now(),
        keepForMs: () => p.config().queue.max_age + DAY,
        count: (what, n) => p.metrics()?.replicaEvent(what, '', n),
      });
      wrapped?.start();
      membership.onDown(() => void keeper.tick());
      timer = setInterval(() => void keeper.tick(), cluster.heartbeat);
      timer.unref();
    },
    stop: async () => {
      if (timer) clearInterval(timer);
      await ledger.close();
      await store.close();
    },
  };
}

/** The replica store, with a `replica_kept` event-log record for each copy kept (GET /api/messages/ID shows where a message's copy is). */
export function keptReplicas(store: ReplicaSink, sink: EventSink, node: string, clock: Clock): ReplicaSink {
  return {
    keep: async (facts, body) => {
      await store.keep(facts, body);
      sink.publish({ event: 'replica_kept', at: new Date(clock.now()).toISOString(), node, queue_id: facts.queueId, origin: facts.origin, recipients: facts.envelope.rcpts.length - facts.done.length });
    },
  };
}
