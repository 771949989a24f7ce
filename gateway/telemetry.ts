/**
 * Part of the composition root: builds observe/ for a node from narrow ports. The
 * Observer (metrics, stats, event log, webhooks, alerts) is built first, so every other
 * part can report into it; its gauges read the queue, connections and warm-up through
 * the ports given to `startGauges`; the admin listener starts last, with admin control.
 */
import type { Registry } from 'prom-client';
import { configPath } from './config/paths.js';
import type { Config } from './config/schema.js';
import { Observer } from './observe/observer.js';
import { AdminServer, type AdminServerDeps, type Readiness } from './observe/admin-server.js';
import type { AdminControl, FleetView } from './observe/admin-control.js';
import type { Logger } from './observe/logger.js';
import type { OutcomeEvent } from './plugin-host/public.js';
import type { Outcome } from './queue/types.js';
import { FleetStats } from './cluster/fleet-board.js';
import { GuessLimiter } from './state/guess-limiter.js';
import type { Clock, FailureLimitStore } from './state/types.js';

/** Open outbound sessions per (source, provider), for the gauge and the API. */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();
  change(source: string, provider: string, delta: 1 | -1): void {
    const k = `${source}\u0000${provider}`;
    const v = (this.open.get(k) ?? 0) + delta;
    if (v <= 0) this.open.delete(k);
    else this.open.set(k, v);
  }
  rows(): { source: string; provider: string; open: number }[] {
    return [...this.open].map(([k, open]) => {
      const [source = '', provider = ''] = k.split('\u0000');
      return { source, provider, open };
    });
  }
}

/** Recipients per (pool, provider) and the oldest one's age: what gauges, alerts and the API read of the queue. */
export interface QueueRowsView {
  queueRows(): { pool: string; provider: string; depth: number; oldestSeconds: number }[];
}

export interface ObserverPorts {
  readonly config: Config;
  readonly baseDir: string;
  readonly registry: Registry;
  readonly log: Logger;
  readonly clock: Clock;
  /** The fleet ([cluster]); null on a single node. */
  readonly fleet: FleetView | null;
  /** Read only once alerts run (after `startGauges`). */
  readonly queue: () => QueueRowsView;
}

/** The Observer for `config`: built before the parts that report into it; started by `startGauges`. */
export function createObserver(p: ObserverPorts): Observer {
  const { config } = p;
  const events = config.events;
  return new Observer({
    node: config.node.id,
    registry: p.registry,
    log: p.log,
    clock: p.clock,
    events: {
      ...(events.file ? { file: configPath(p.baseDir, events.file) } : {}),
      max_size: events.max_size,
      keep: events.keep,
      webhooks: events.webhooks.map((w, i) => ({ url: w.url, events: w.events, secret: w.secret, batch_size: w.batch_size, max_backlog: w.max_backlog, name: String(i) })),
    },
    alerts: config.alerts.map((a) => ({ metric: a.metric, scope: a.scope, threshold: a.threshold, window: a.window, min_volume: a.min_volume })),
    alert_inputs: {
      queueAges: (scope) => {
        const by = new Map<string, number>();
        for (const r of p.queue().queueRows()) {
          const key = scope === 'pool' ? r.pool : scope === 'provider' ? r.provider : config.node.id;
          by.set(key, Math.max(by.get(key) ?? 0, r.oldestSeconds));
        }
        return [...by].map(([key, oldestSeconds]) => ({ key, oldestSeconds }));
      },
      // Live and down nodes: membership keeps a down node listed until it beats again.
      nodes: () => {
        const members = p.fleet?.members() ?? [];
        return members.length > 0 ? members.map((n) => ({ id: n.id, live: n.live || n.id === config.node.id })) : [{ id: config.node.id, live: true }];
      },
    },
  });
}

export interface GaugePorts {
  readonly fleet: FleetView | null;
  readonly queue: QueueRowsView;
  readonly connections: ConnectionCounter;
  readonly stateHealthy: () => boolean;
  /** The sources in force now (a reload may add or remove some) and their warm-up counts. */
  readonly sources: () => readonly string[];
  readonly warmup: { cap(source: string): number | null; used(source: string): Promise<number> };
}

/** Points the gauges at the running parts and starts the alerts. */
export function startGauges(observer: Observer, p: GaugePorts): void {
  const m = observer.metrics;
  m.setStateHealth(p.stateHealthy);
  m.setQueueSnapshot(() => p.queue.queueRows().map((r) => ({ pool: r.pool, provider: r.provider, depth: r.depth, oldestSeconds: r.oldestSeconds })));
  m.setConnectionsSnapshot(() => p.connections.rows());
  m.setWarmupSnapshot(async () => {
    const rows = [];
    for (const name of p.sources()) {
      const cap = p.warmup.cap(name);
      rows.push({ source: name, used: cap === null ? 0 : await p.warmup.used(name).catch(() => 0), cap });
    }
    return rows;
  });
  observer.start();
  // A node going down or coming back is judged at once, not at the next 15 s pass.
  p.fleet?.onDown(() => void observer.alerts.evaluate());
  p.fleet?.onUp(() => void observer.alerts.evaluate());
}

/** The Observer's share of each outcome: counts, stats, events, delivery latency and time in queue. */
export function outcomeTelemetry(observer: Observer, clock: Clock): (o: Outcome, e: OutcomeEvent) => void {
  const m = observer.metrics;
  return (o, e) => {
    observer.outcome(o.kind, e, o.envelope.campaign);
    // From the 250 to the end of the message's stay: delivery latency for what was
    // delivered, time in queue for every final outcome.
    // A bounce mailed back ([bounces] domain) comes after the message's stay ended: no queue time of its own.
    if (o.kind !== 'deferred' && o.kind !== 'complained' && o.bounce === undefined) {
      const seconds = Math.max(0, (clock.now() - o.envelope.receivedAt) / 1000);
      if (o.kind === 'delivered') m.deliveryLatency(o.provider, seconds);
      m.queueTime(o.envelope.class, seconds);
    }
  };
}

export interface AdminPorts {
  readonly config: Config;
  readonly baseDir: string;
  readonly registry: Registry;
  readonly log: Logger;
  readonly observer: Observer;
  readonly control: AdminControl;
  readonly readiness: () => Readiness;
  readonly fleet: FleetView | null;
  readonly failures: FailureLimitStore;
  /** Queue inspection and actions (issue 17). */
  readonly queue?: AdminServerDeps['queue'];
}

/** The admin listener when [admin] is configured (null otherwise), listening. */
export async function startAdmin(p: AdminPorts): Promise<AdminServer | null> {
  const { config, observer } = p;
  const adminConfig = config.admin;
  if (!adminConfig) return null;
  const m = observer.metrics;
  const admin = new AdminServer(
    { listen: adminConfig.listen, ...(adminConfig.token ? { token: adminConfig.token } : {}), ...(adminConfig.token_file ? { token_file: configPath(p.baseDir, adminConfig.token_file) } : {}) },
    {
      node: config.node.id,
      control: p.control,
      ...(p.queue ? { queue: p.queue } : {}),
      registry: p.registry,
      readiness: p.readiness,
      // Clustered: the fleet's numbers (this node's plus what live peers published).
      stats: config.cluster ? new FleetStats(observer.stats, async () => p.fleet?.live() ?? [], config.node.id) : observer.stats,
      statsSpanMs: observer.stats.spanMs,
      alerts: observer.alerts,
      log: p.log,
      tokenGuesses: new GuessLimiter(
        p.failures,
        'admin',
        // [admin] changes need a restart (config/diff.ts): the limits read at start stay.
        () => ({ ip: { limit: adminConfig.token_failure_limit, windowMs: adminConfig.token_failure_window, lockoutMs: adminConfig.token_lockout } }),
        { failed: () => m.authFailure('admin'), refused: () => m.authRefused('admin') },
      ),
    },
  );
  await admin.start();
  return admin;
}
