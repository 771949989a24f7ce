/**
 * Wires observe/ to a running node: the Observer (metrics, stats, event log, webhooks,
 * alerts) on the outcome stream, gauges read from the queue and state, and the admin
 * listener when [admin] is configured.
 */
import { configPath } from './config/paths.js';
import { Observer } from './observe/observer.js';
import { AdminServer } from './observe/admin-server.js';
import type { OutcomeEvent } from './plugin-host/public.js';
import type { Outcome } from './queue/types.js';
import type { SluiceNode } from './node.js';
import { NodeControl } from './observe/node-control.js';
import { FleetStats } from './cluster/fleet-board.js';
import { GuessLimiter } from './state/guess-limiter.js';

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

export interface Observability {
  readonly observer: Observer;
  readonly admin: AdminServer | null;
  onOutcome(o: Outcome, e: OutcomeEvent): void;
  close(): Promise<void>;
}

export async function startObservability(node: SluiceNode): Promise<Observability> {
  const { config } = node;
  const events = config.events;
  const observer = new Observer({
    node: config.node.id,
    registry: node.registry,
    log: node.log,
    clock: node.clock,
    events: {
      ...(events.file ? { file: configPath(node.baseDir, events.file) } : {}),
      max_size: events.max_size,
      keep: events.keep,
      webhooks: events.webhooks.map((w, i) => ({ url: w.url, events: w.events, secret: w.secret, batch_size: w.batch_size, max_backlog: w.max_backlog, name: String(i) })),
    },
    alerts: config.alerts.map((a) => ({ metric: a.metric, scope: a.scope, threshold: a.threshold, window: a.window, min_volume: a.min_volume })),
    alert_inputs: {
      queueAges: (scope) => {
        const rows = node.queueRows();
        const by = new Map<string, number>();
        for (const r of rows) {
          const key = scope === 'pool' ? r.pool : scope === 'provider' ? r.provider : config.node.id;
          by.set(key, Math.max(by.get(key) ?? 0, r.oldestSeconds));
        }
        return [...by].map(([key, oldestSeconds]) => ({ key, oldestSeconds }));
      },
      nodes: async () => {
        const live = await node.state.nodes.live().catch(() => []);
        return live.length > 0 ? live.map((n) => ({ id: n.id, live: true })) : [{ id: config.node.id, live: true }];
      },
    },
  });
  const m = observer.metrics;
  m.setStateHealth(() => node.state.healthy());
  m.setQueueSnapshot(() => node.queueRows().map((r) => ({ pool: r.pool, provider: r.provider, depth: r.depth, oldestSeconds: r.oldestSeconds })));
  m.setConnectionsSnapshot(() => node.openConnections());
  m.setWarmupSnapshot(async () => {
    const rows = [];
    // The sources in force now: a reload may add or remove some.
    for (const name of Object.keys(node.config.sources)) {
      const cap = node.warmup.cap(name);
      rows.push({ source: name, used: cap === null ? 0 : await node.warmup.used(name).catch(() => 0), cap });
    }
    return rows;
  });
  observer.start();

  let admin: AdminServer | null = null;
  const adminConfig = config.admin;
  if (adminConfig) {
    admin = new AdminServer(
      { listen: adminConfig.listen, ...(adminConfig.token ? { token: adminConfig.token } : {}), ...(adminConfig.token_file ? { token_file: configPath(node.baseDir, adminConfig.token_file) } : {}) },
      {
        node: config.node.id,
        control: new NodeControl(node),
        registry: node.registry,
        readiness: () => node.readiness(),
        // Clustered: the fleet's numbers (this node's plus what live peers published).
        stats: config.cluster ? new FleetStats(observer.stats, () => node.state.nodes.live(), config.node.id) : observer.stats,
        statsSpanMs: observer.stats.spanMs,
        alerts: observer.alerts,
        log: node.log,
        tokenGuesses: new GuessLimiter(
          node.state.failures,
          'admin',
          // [admin] changes need a restart (config/diff.ts): the limits read at start stay.
          () => ({ ip: { limit: adminConfig.token_failure_limit, windowMs: adminConfig.token_failure_window, lockoutMs: adminConfig.token_lockout } }),
          { failed: () => m.authFailure('admin'), refused: () => m.authRefused('admin') },
        ),
      },
    );
    await admin.start();
  }

  return {
    observer,
    admin,
    onOutcome: (o, e) => {
      observer.outcome(o.kind, e, o.envelope.campaign);
      // From the 250 to the end of the message's stay: delivery latency for what was
      // delivered, time in queue for every final outcome.
      if (o.kind !== 'deferred' && o.kind !== 'complained') {
        const seconds = Math.max(0, (node.clock.now() - o.envelope.receivedAt) / 1000);
        if (o.kind === 'delivered') m.deliveryLatency(o.provider, seconds);
        m.queueTime(o.envelope.class, seconds);
      }
    },
    close: async () => {
      await admin?.close();
      await observer.close();
    },
  };
}
