/**
 * The seam between the admin HTTP API and the node: the admin server validates a
 * request, then asks an `AdminControl` to read or act. The composition root provides
 * the real one (queue, routing, state, cluster); tests use an in-memory fake.
 *
 * The data types are the JSON the API returns, so they keep the API's snake_case:
 * no renaming layer between what the core answers and what ops read.
 */
import type { NodeInfo, NodeLoad, SuppressionEntry, SuppressionReason } from '../state/types.js';

/**
 * The fleet as this node's membership sees it (cluster/membership.ts implements it): live
 * nodes from the registry, down ones since it saw them leave. Null on a single node.
 */
export interface FleetView {
  live(): readonly NodeInfo[];
  members(): readonly { readonly id: string; readonly live: boolean; readonly info: NodeInfo | null; readonly downSince: number | null }[];
  /** This node's share of a fleet-wide limit: 1 / live nodes. */
  share(): number;
  onDown(cb: () => void): unknown;
  onUp(cb: () => void): unknown;
}

/** Who asked, for holds and logs: `admin-api <remote address> token:<fingerprint>`. */
export type Actor = string;

export interface NodeStatus {
  readonly id: string;
  readonly address: string;
  readonly live: boolean;
  /** This is the node answering the request. */
  readonly self: boolean;
  readonly version: string;
  /** Milliseconds since the epoch; null when unknown (a node that is down). */
  readonly started_at: number | null;
  readonly draining: boolean;
  /** host:port of its cluster listener, where peers hand it mail (its heartbeat's `[cluster] advertise`); null: none (yet). */
  readonly cluster: string | null;
  /** When the answering node saw it go down (ISO time; null while live or not known to be down yet). */
  readonly down_since: string | null;
  /** Its load from its last heartbeat (CPU, memory, lag, disk, connections, queue, send rate); null when none was seen. */
  readonly load: NodeLoad | null;
  /**
   * `[cluster] config = "redis"`: the config version it runs, from its last heartbeat (0: none
   * applied, it runs its own file's sections); null on a node in "file" mode or one that does not say.
   */
  readonly config_version: number | null;
  /** The newest config version refused on it (newer than the one it runs); null when none is. */
  readonly config_failed: number | null;
}

export interface QueueStatusRow {
  readonly pool: string;
  readonly provider: string;
  readonly depth: number;
  readonly oldest_seconds: number;
}

export interface PoolStatus {
  readonly name: string;
  readonly sources: readonly string[];
  /** The pool's hold; null when it is not held. */
  readonly held: HoldView | null;
  /** Deprecated: the older name of `held` (same value). */
  readonly paused: HoldView | null;
}

/** The config version from Redis a node runs, and the last one that did not apply on it. */
export interface ConfigRolloutView {
  readonly version: number;
  readonly failed: { readonly version: number; readonly errors: readonly string[]; readonly at: number } | null;
  /** The newest version in Redis when the node last read it. */
  readonly latest: number;
}

export interface ClusterStatus {
  /** The node answering. */
  readonly node: string;
  readonly version: string;
  /** Where the config comes from: the node's files, or versions in Redis (version null in "file" mode). */
  readonly config: { readonly source: 'file' | 'redis'; readonly version: number | null; readonly failed: ConfigRolloutView['failed']; readonly latest: number | null };
  readonly started_at: number;
  readonly state_backend: 'embedded' | 'redis';
  /** False while the shared state does not answer (the node runs on its own share). */
  readonly state_healthy: boolean;
  readonly draining: boolean;
  /** Messages queued on the answering node (what a drain waits for). */
  readonly queued_here: number;
  /** Every node the answering node knows: live ones, and down ones (silent for failover_after, or named in the config and never seen). */
  readonly nodes: readonly NodeStatus[];
  /** This node's share of each fleet-wide limit while Redis is away: 1 / live nodes. */
  readonly share: number;
  readonly pools: readonly PoolStatus[];
  /** Per ready queue, across the cluster when the node can see it, else this node's. */
  readonly queue: readonly QueueStatusRow[];
}

/** A hold as the API shows it (state `Hold`, with ISO times). */
export interface HoldView {
  readonly reason: string;
  readonly by: string;
  /** ISO time the hold lapses; null: until lifted. */
  readonly until: string | null;
}

/** A hold of a source toward one provider. */
export interface HeldTowardView extends HoldView {
  readonly provider: string;
}

export interface SourceStatus {
  readonly name: string;
  readonly ip: string;
  readonly ehlo: string;
  /** The node that holds the IP (null: any node, single-node setups). */
  readonly node: string | null;
  readonly node_live: boolean;
  readonly pools: readonly string[];
  /** The hold of the whole source; null when it is not held. */
  readonly held: HoldView | null;
  /** Holds of this source toward one provider each. */
  readonly held_toward: readonly HeldTowardView[];
  /** Deprecated: the older name of `held` (same value). */
  readonly paused: HoldView | null;
  /** Deprecated: the older name of `held_toward` (same value). */
  readonly suspended: readonly HeldTowardView[];
  /** Today's warm-up budget; null when the source is not warming up. */
  readonly warmup: { readonly schedule: string; readonly day: string; readonly used: number; readonly cap: number } | null;
  readonly connections: number;
}

export interface ProviderStatus {
  readonly name: string;
  readonly max_connections: number;
  /** Per source, all nodes together, as configured: "50/s"; "unlimited" when no rate applies. */
  readonly max_message_rate: string;
  /** The max_message_burst beside that rate; null: evenly spaced (the default). */
  readonly max_message_burst: number | null;
  /** What the rate keeps (docs/SHAPING.md "What a rate guarantees"); null when unlimited. */
  readonly rate_guarantee: string | null;
  /**
   * [providers.X.total]: the provider across all sources and nodes; null when it has none,
   * and for "default", whose limits above hold per site as a whole.
   */
  readonly total: ProviderTotal | null;
  readonly connections: number;
  readonly queue_depth: number;
  readonly oldest_seconds: number;
  /** The hold of this provider for every source (a `hold_provider` rule); null when none. */
  readonly held: HoldView | null;
  /** Sources held toward this provider. */
  readonly held_sources: ReadonlyArray<{ readonly source: string } & HoldView>;
  /** Deprecated: the older name of `held_sources` (same value). */
  readonly suspended: ReadonlyArray<{ readonly source: string } & HoldView>;
}

export interface ProviderTotal {
  readonly max_connections: number | null;
  readonly max_message_rate: string;
  readonly max_message_burst: number | null;
  readonly rate_guarantee: string | null;
}

export interface FlushResult {
  /** Recipients made due now. */
  readonly flushed: number;
}

export interface ReloadResult {
  /** The config files read. */
  readonly files: readonly string[];
  /** Short descriptions of what changed ("sources.tx3 added"). */
  readonly changes: readonly string[];
}

export interface DrainResult {
  /** Whether the node now refuses new mail. */
  readonly draining: boolean;
  /** When the drain began (ISO time), null when none is under way. */
  readonly since: string | null;
  /** Messages still queued on this node. */
  readonly queued: number;
  /** Deferred items made due now by this call. */
  readonly flushed: number;
  /** Whether queued mail is being handed to peers (`drain --handoff`). */
  readonly handoff: boolean;
}

type Answer<T> = T | Promise<T>;

export interface AdminControl {
  status(): Answer<ClusterStatus>;
  sources(): Answer<readonly SourceStatus[]>;
  providers(): Answer<readonly ProviderStatus[]>;
  /** Holds the whole source until lifted. Unknown name: throw AdminError('NOT_FOUND'). */
  holdSource(name: string, reason: string, by: Actor): Answer<void>;
  /** Lifts the source's hold and its holds toward providers (the dashboard's Lift button). */
  liftSource(name: string, by: Actor): Answer<void>;
  holdPool(name: string, reason: string, by: Actor): Answer<void>;
  liftPool(name: string, by: Actor): Answer<void>;
  /** Holds `source` toward `provider` for `ms` (a `source-provider:` hold); `reason` is what ops wrote. */
  holdSourceToward(name: string, provider: string, ms: number, reason: string, by: Actor): Answer<void>;
  /** Makes every deferred recipient due now. */
  flushQueue(by: Actor): Answer<FlushResult>;
  /** Resolves to whether the entry was new. */
  addSuppression(address: string, reason: SuppressionReason, by: Actor): Answer<boolean>;
  /** Resolves to whether an entry existed. */
  removeSuppression(address: string, by: Actor): Answer<boolean>;
  checkSuppression(address: string): Answer<SuppressionEntry | null>;
  /** Invalid config: throw AdminError('INVALID', the explained errors); the old config stays. */
  reload(by: Actor): Answer<ReloadResult>;
  /**
   * Maintenance drain: refuse new mail, retry what is queued now. Calling it again retries
   * again. With `handoff`, every queued message goes to live peers that can send it
   * (`sluice drain --handoff`); no [cluster] transport or no live peer: AdminError('CONFLICT').
   */
  drain(by: Actor, handoff?: boolean): Answer<DrainResult>;
  /** Ends a maintenance drain: accept mail again. */
  undrain(by: Actor): Answer<DrainResult>;
}

export type AdminErrorCode = 'NOT_FOUND' | 'INVALID' | 'CONFLICT' | 'UNAVAILABLE';

/**
 * What an AdminControl throws for the API to map: NOT_FOUND → 404, INVALID → 400,
 * CONFLICT → 409, UNAVAILABLE → 503. Anything else is a 500 with a bland message; the
 * details go to the log only.
 */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'AdminError';
  }

  static notFound(what: 'source' | 'pool' | 'provider' | 'suppression', name: string): AdminError {
    return new AdminError('NOT_FOUND', `unknown ${what} "${name}"`);
  }
}
