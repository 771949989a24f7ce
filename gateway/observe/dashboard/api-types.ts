/**
 * The JSON the admin API answers, as far as the dashboard reads it. These mirror the
 * server's types (observe/admin-control.ts, observe/stats.ts, observe/event-types.ts);
 * they are copied rather than imported because this folder compiles for the browser,
 * without Node's types. A field renamed on the server must be renamed here too: the
 * browser test (test/observe/dashboard.browser.test.ts) reads every section.
 */

export interface HoldView {
  readonly reason: string;
  readonly by: string;
  /** ISO time the hold lapses; null: until lifted. */
  readonly until: string | null;
}

export interface NodeStatus {
  readonly id: string;
  readonly address: string;
  readonly live: boolean;
  readonly self: boolean;
  readonly version: string;
  readonly started_at: number | null;
  readonly draining: boolean;
  /** ISO time the answering node saw it go down; null while live. */
  readonly down_since: string | null;
  /** From its last heartbeat; null when none was seen. */
  readonly load: NodeLoad | null;
  /** The config version from Redis it runs (0: its own file's); null in "file" mode. Absent from older servers. */
  readonly config_version?: number | null;
  /** The newest config version refused on it; null when none is. */
  readonly config_failed?: number | null;
}

/** What each node's heartbeat carries (state/types.ts NodeLoad). */
export interface NodeLoad {
  readonly cpu: number;
  readonly memory_bytes: number;
  readonly loop_lag_ms: number;
  readonly disk_free_bytes: number | null;
  readonly connections_in: number;
  readonly connections_out: number;
  readonly queue_depth: number;
  readonly send_rate: number;
}

export interface ClusterStatus {
  readonly node: string;
  readonly version: string;
  readonly state_backend: string;
  readonly state_healthy: boolean;
  readonly draining: boolean;
  /** The config the answering node runs: from its files, or a version from Redis (docs/OPERATIONS.md "Config rollout"). */
  readonly config?: { readonly source: 'file' | 'redis'; readonly version: number | null; readonly failed: { readonly version: number; readonly errors: readonly string[] } | null; readonly latest?: number | null };
  readonly nodes: readonly NodeStatus[];
  readonly pools: ReadonlyArray<{ readonly name: string; readonly held: HoldView | null }>;
  readonly queue: ReadonlyArray<{ readonly pool: string; readonly provider: string; readonly depth: number; readonly oldest_seconds: number }>;
}

export interface SourceStatus {
  readonly name: string;
  readonly ip: string;
  readonly ehlo: string;
  readonly node: string | null;
  readonly node_live: boolean;
  readonly pools: readonly string[];
  readonly held: HoldView | null;
  readonly held_toward: ReadonlyArray<{ readonly provider: string } & HoldView>;
  readonly warmup: { readonly schedule: string; readonly day: string; readonly used: number; readonly cap: number } | null;
  readonly connections: number;
}

export interface RateView {
  readonly max_message_rate: string;
  readonly max_message_burst: number | null;
  readonly rate_guarantee: string | null;
}

export interface ProviderStatus extends RateView {
  readonly name: string;
  readonly max_connections: number;
  readonly total: RateView | null;
  readonly connections: number;
  readonly queue_depth: number;
  readonly oldest_seconds: number;
  /** The provider held for every source; null when it is not. */
  readonly held: HoldView | null;
  readonly held_sources: ReadonlyArray<{ readonly source: string } & HoldView>;
}

/** The outcome kinds the chart draws (a subset of the server's OutcomeKind). */
export type SeriesKind = 'delivered' | 'queued' | 'deferred' | 'bounced' | 'complained';

export interface Counts {
  readonly delivered: number;
  readonly queued: number;
  readonly deferred: number;
  readonly bounced: number;
  readonly complained: number;
  readonly bounce_rate: number | null;
  readonly complaint_rate: number | null;
  readonly deferral_rate: number | null;
}

export type StatsRow = { readonly key: string } & Counts;

export interface StatsSnapshot {
  readonly totals: Counts;
  readonly by_source: readonly StatsRow[];
  readonly by_provider: readonly StatsRow[];
  /** Mutable arrays: uPlot takes them as they are (fresh from JSON, owned by the chart). */
  readonly series: { readonly step_s: number; readonly t: number[] } & Record<SeriesKind, number[]>;
}

export interface AlertView {
  readonly id: string;
  readonly rule: string;
  readonly message: string;
  readonly raised_at: string;
  readonly cleared_at: string | null;
}

/** One refresh: each part is missing when its request failed. */
export interface DashboardData {
  status?: ClusterStatus;
  sources?: { readonly sources: readonly SourceStatus[] };
  providers?: { readonly providers: readonly ProviderStatus[] };
  stats?: StatsSnapshot;
  alerts?: { readonly active: readonly AlertView[]; readonly recent: readonly AlertView[] };
}
