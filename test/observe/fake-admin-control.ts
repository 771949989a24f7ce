/**
 * An in-memory AdminControl for the observe tests: three sources, two pools, three
 * providers, two nodes. It records every call so a test can assert what the API (or a
 * click on the dashboard) asked for.
 */
import {
  AdminError,
  type AdminControl,
  type Actor,
  type ClusterStatus,
  type DrainResult,
  type HoldView,
  type ProviderStatus,
  type SourceStatus,
  type HeldTowardView,
} from '../../gateway/observe/admin-control.js';
import type { SuppressionEntry, SuppressionReason } from '../../gateway/state/types.js';
import { rateGuarantee } from '../../gateway/config/rate-text.js';

export type Call = { readonly method: string; readonly args: readonly unknown[] };

interface FakeSource {
  readonly name: string;
  readonly ip: string;
  readonly ehlo: string;
  readonly pools: string[];
  held: HoldView | null;
  heldToward: HeldTowardView[];
  readonly warmup: SourceStatus['warmup'];
  readonly connections: number;
}

export class FakeAdminControl implements AdminControl {
  readonly calls: Call[] = [];
  readonly suppressed = new Map<string, SuppressionEntry>();
  readonly sourceList: FakeSource[] = [
    { name: 'a', ip: '127.0.0.2', ehlo: 'a.mta.example.test', pools: ['transactional'], held: null, heldToward: [], warmup: null, connections: 3 },
    {
      name: 'b',
      ip: '127.0.0.3',
      ehlo: 'b.mta.example.test',
      pools: ['transactional', 'promotional'],
      held: null,
      heldToward: [{ provider: 'outlook', reason: '4.7.650 throttled', by: 'shaping', until: '2026-11-01T13:30:00.000Z' }],
      warmup: null,
      connections: 2,
    },
    {
      name: 'c',
      ip: '127.0.0.4',
      ehlo: 'c.mta.example.test',
      pools: ['promotional'],
      held: null,
      heldToward: [],
      warmup: { schedule: 'standard', day: '2026-11-01', used: 320, cap: 500 },
      connections: 1,
    },
  ];
  readonly pools = new Map<string, HoldView | null>([
    ['transactional', null],
    ['promotional', null],
  ]);

  #call(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  callsTo(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  #source(name: string): FakeSource {
    const s = this.sourceList.find((x) => x.name === name);
    if (s === undefined) throw AdminError.notFound('source', name);
    return s;
  }

  status(): ClusterStatus {
    return {
      node: 'gw-1',
      version: '0.1.0',
      config: { source: 'redis', version: 4, failed: null, latest: 4 },
      started_at: Date.now() - 3_600_000,
      state_backend: 'redis',
      state_healthy: true,
      draining: false,
      queued_here: 42,
      nodes: [
        { id: 'gw-1', address: '127.0.0.1', live: true, self: true, version: '0.1.0', started_at: Date.now() - 3_600_000, draining: false, cluster: null, down_since: null, load: null, config_version: 4, config_failed: null },
        { id: 'gw-2', address: '127.0.0.5', live: true, self: false, version: '0.1.0', started_at: Date.now() - 7_200_000, draining: false, cluster: '127.0.0.5:2526', down_since: null, load: { v: 1, cpu: 0.35, memory_bytes: 180 * 2 ** 20, loop_lag_ms: 12.5, disk_free_bytes: 40 * 2 ** 30, connections_in: 14, connections_out: 9, queue_depth: 1234, send_rate: 48.5 }, config_version: 3, config_failed: 4 },
        { id: 'gw-3', address: '', live: false, self: false, version: '', started_at: null, draining: false, down_since: new Date(Date.now() - 90_000).toISOString(), load: null, config_version: null, config_failed: null },
      ],
      share: 0.5,
      pools: [...this.pools].map(([name, held]) => ({
        name,
        held,
        paused: held,
        sources: this.sourceList.filter((s) => s.pools.includes(name)).map((s) => s.name),
      })),
      queue: [
        { pool: 'transactional', provider: 'gmail', depth: 42, oldest_seconds: 12 },
        { pool: 'promotional', provider: 'outlook', depth: 1280, oldest_seconds: 905 },
        { pool: 'promotional', provider: 'yahoo', depth: 7, oldest_seconds: 3 },
      ],
    };
  }

  sources(): SourceStatus[] {
    return this.sourceList.map((s) => ({
      name: s.name,
      ip: s.ip,
      ehlo: s.ehlo,
      node: 'gw-1',
      node_live: true,
      pools: s.pools,
      held: s.held,
      held_toward: s.heldToward,
      paused: s.held,
      suspended: s.heldToward,
      warmup: s.warmup,
      connections: s.connections,
    }));
  }

  providers(): ProviderStatus[] {
    return [
      {
        name: 'gmail',
        max_connections: 10,
        max_message_rate: '50/s',
        max_message_burst: 5,
        rate_guarantee: rateGuarantee({ count: 50, periodMs: 1000, burst: 5 }),
        total: { max_connections: 40, max_message_rate: '200/s', max_message_burst: null, rate_guarantee: rateGuarantee({ count: 200, periodMs: 1000 }) },
        connections: 4,
        queue_depth: 42,
        oldest_seconds: 12,
        held: null,
        held_sources: [],
        suspended: [],
      },
      {
        name: 'outlook',
        max_connections: 8,
        max_message_rate: '20/s',
        max_message_burst: null,
        rate_guarantee: rateGuarantee({ count: 20, periodMs: 1000 }),
        total: null,
        connections: 2,
        queue_depth: 1280,
        oldest_seconds: 905,
        held: null,
        held_sources: [{ source: 'b', reason: '4.7.650 throttled', by: 'shaping', until: '2026-11-01T13:30:00.000Z' }],
        suspended: [{ source: 'b', reason: '4.7.650 throttled', by: 'shaping', until: '2026-11-01T13:30:00.000Z' }],
      },
      { name: 'yahoo', max_connections: 5, max_message_rate: '10/s', max_message_burst: null, rate_guarantee: rateGuarantee({ count: 10, periodMs: 1000 }), total: null, connections: 0, queue_depth: 7, oldest_seconds: 3, held: { reason: 'hold_provider 4.7.0', by: 'response-rule', until: '2026-11-01T14:00:00.000Z' }, held_sources: [], suspended: [] },
    ];
  }

  holdSource(name: string, reason: string, by: Actor): void {
    this.#call('holdSource', name, reason, by);
    this.#source(name).held = { reason, by, until: null };
  }

  liftSource(name: string, by: Actor): void {
    this.#call('liftSource', name, by);
    const s = this.#source(name);
    s.held = null;
    s.heldToward = [];
  }

  holdPool(name: string, reason: string, by: Actor): void {
    this.#call('holdPool', name, reason, by);
    if (!this.pools.has(name)) throw AdminError.notFound('pool', name);
    this.pools.set(name, { reason, by, until: null });
  }

  liftPool(name: string, by: Actor): void {
    this.#call('liftPool', name, by);
    if (!this.pools.has(name)) throw AdminError.notFound('pool', name);
    this.pools.set(name, null);
  }

  holdSourceToward(name: string, provider: string, ms: number, reason: string, by: Actor): void {
    this.#call('holdSourceToward', name, provider, ms, reason, by);
    this.#source(name).heldToward.push({ provider, reason, by, until: new Date(Date.now() + ms).toISOString() });
  }

  flushQueue(by: Actor): { flushed: number } {
    this.#call('flushQueue', by);
    return { flushed: 17 };
  }

  addSuppression(address: string, reason: SuppressionReason, by: Actor): boolean {
    this.#call('addSuppression', address, reason, by);
    const fresh = !this.suppressed.has(address);
    this.suppressed.set(address, { address, reason, source: 'admin-api', at: Date.now() });
    return fresh;
  }

  removeSuppression(address: string, by: Actor): boolean {
    this.#call('removeSuppression', address, by);
    return this.suppressed.delete(address);
  }

  checkSuppression(address: string): SuppressionEntry | null {
    this.#call('checkSuppression', address);
    return this.suppressed.get(address) ?? null;
  }

  async reload(by: Actor): Promise<{ files: string[]; changes: string[] }> {
    this.#call('reload', by);
    return { files: ['config/sluice.toml'], changes: [] };
  }

  async drain(by: Actor): Promise<DrainResult> {
    this.#call('drain', by);
    return { draining: true, since: '2026-11-01T12:00:00.000Z', queued: 1329, flushed: 17 };
  }

  async undrain(by: Actor): Promise<DrainResult> {
    this.#call('undrain', by);
    return { draining: false, since: null, queued: 1329, flushed: 0 };
  }
}
