/**
 * The composition root: builds every module from the config and wires them together.
 * The only place (with the CLI) that picks implementations and touches process state.
 */
import { hostname as osHostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { configPath } from './config/paths.js';
import { Registry } from 'prom-client';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { diffConfig, RESTART_ONLY } from './config/diff.js';
import type { Config } from './config/schema.js';
import { systemClock, type Clock } from './state/types.js';
import { createState, type ManagedState } from './state/create.js';
import { SegmentSpool } from './spool/segment-spool.js';
import { DiskGuard } from './spool/disk-guard.js';
import { logDamage } from './spool/damage-log.js';
import { localResponse } from './delivery/response.js';
import type { Envelope, LostMessage, Spool } from './spool/types.js';
import { PluginHost, pluginOrder } from './plugin-host/host.js';
import { MxResolver } from './delivery/mx-resolver.js';
import { ProviderTable, type ProviderLimits } from './shaping/providers.js';
import { Router } from './routing/router.js';
import { HoldCache } from './shaping/hold-cache.js';
import { WarmupGate } from './shaping/warmup-gate.js';
import { SourcePicker } from './routing/source-picker.js';
import { Pauses } from './shaping/pauses.js';
import { HealthMonitor } from './shaping/health-monitor.js';
import { SharedLimitsWatch } from './shaping/shared-limits-watch.js';
import { Scheduler } from './queue/scheduler.js';
import { createSessionRunner } from './delivery/agent.js';
import { SendWindows } from './shaping/send-window.js';
import { Listener } from './ingress/listener.js';
import { ResilientState } from './state/resilient.js';
import { smtpAuthLimiter } from './ingress/auth-limiter.js';
import { loadTls } from './ingress/tls.js';
import { replies } from './ingress/replies.js';
import type { AcceptSink } from './ingress/transaction.js';
import { createLogger, type NodeLog } from './observe/logger.js';
import { OutcomeRouter } from './bounce/outcomes.js';
import { FeedbackLoop } from './bounce/feedback-loop.js';
import { VERSION } from './observe/node-control.js';
import { makeBoard } from './cluster/fleet-board.js';
import { ClusterLink } from './cluster/cluster-link.js';
import { ClusterListener } from './ingress/cluster-listener.js';
import { PEER_HEADER } from './cluster/peer-facts.js';
import { SluiceError } from './errors.js';
import { listenError } from './listen-error.js';
import { ConnectionCounter, startObservability, type Observability } from './telemetry.js';
import type { Observer } from './observe/observer.js';
import type { Readiness } from './observe/admin-server.js';
import type { ReloadResult } from './observe/admin-control.js';
import type { OutcomeEvent } from './plugin-host/public.js';

export interface NodeOptions {
  readonly loaded: LoadedConfig;
  readonly clock?: Clock;
  readonly logger?: NodeLog;
}

export class SluiceNode {
  private current: Config;
  private loaded: LoadedConfig;
  readonly log: NodeLog;
  readonly clock: Clock;
  readonly hostname: string;
  readonly dataDir: string;
  /** The directory relative paths in the config resolve against. */
  readonly baseDir: string;
  readonly registry = new Registry();
  readonly startedAt: number;
  private stopping = false;
  /** A maintenance drain under way (admin API or `sluice drain`): since when, and who asked. */
  maintenance: { readonly since: number; readonly by: string } | null = null;
  readonly connections = new ConnectionCounter();
  private obs: Observability | null = null;
  private outcomes!: OutcomeRouter;
  private resolver!: MxResolver;
  state!: ManagedState;
  spool!: Spool;
  plugins!: PluginHost;
  scheduler!: Scheduler;
  holds!: HoldCache;
  warmup!: WarmupGate;
  picker!: SourcePicker;
  /** Pauses shaping sets itself (response rules, health); subscribe for source_paused / source_resumed. */
  pauses!: Pauses;
  health!: HealthMonitor;
  private limitsWatch: SharedLimitsWatch | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** The node-to-node transport ([cluster] secret): cluster listeners, peer client, live peers. */
  cluster: ClusterLink | null = null;
  listeners: Listener[] = [];
  /** Ports actually bound, in [[listen]] order (0 in the config means "any free port"). */
  ports: number[] = [];
  /** Free space against min_free_disk; what admission and /readyz ask. */
  private disk!: DiskGuard;
  /** [feedback] intake, when configured. */
  feedback: FeedbackLoop | null = null;
  private diskTimer: NodeJS.Timeout | null = null;
  /** This node's sends per rate key; outlives reloads, since sends in flight still count. */
  private readonly sendWindows: SendWindows;
  /** Header names [[routes]] read (lower-cased), from the config in force: ingress keeps their values. */
  private routeHeaderNames: readonly string[] = [];

  constructor(opts: NodeOptions) {
    this.loaded = opts.loaded;
    this.current = opts.loaded.config;
    this.baseDir = opts.loaded.baseDir;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger(this.config.node.id);
    this.hostname = this.config.node.hostname ?? osHostname();
    const d = this.config.node.data_dir;
    this.dataDir = configPath(opts.loaded.baseDir, d);
    this.startedAt = this.clock.now();
    this.sendWindows = new SendWindows(this.clock);
  }

  get config(): Config {
    return this.current;
  }

  get observer(): Observer | null {
    return this.obs?.observer ?? null;
  }

  async start(): Promise<void> {
    const { config, log, clock } = this;
    await mkdir(this.dataDir, { recursive: true });
    this.state = await createState({ dataDir: join(this.dataDir, 'state'), clock, ...(config.cluster ? { redisUrl: config.cluster.redis_url, redisPrefix: config.cluster.key_prefix, commandTimeoutMs: config.cluster.command_timeout, leaseHolder: config.node.id } : {}) });
    this.spool = await SegmentSpool.open(join(this.dataDir, 'spool'), { clock });
    this.plugins = await PluginHost.load({
      order: pluginOrder(config),
      timeoutMs: config.plugins.timeout,
      tables: { dkim: config.dkim, classify: config.classify, suppression: config.suppression, ...this.loaded.pluginTables },
      configFile: this.loaded.files[0]?.path ?? '',
      tableFile: (table) => this.loaded.origin[table] ?? this.loaded.files[0]?.path ?? '',
      baseDir: this.baseDir,
      state: this.state,
      metrics: this.registry,
      logger: (name) => log.child({ plugin: name }),
      onFailure: (plugin, hook, reason) => this.obs?.observer.metrics.pluginFailure(plugin, hook, reason),
    });
    // Shaping wiring: holds, warm-up, pauses and health (docs/SHAPING.md).
    this.holds = new HoldCache(this.state, clock, (err) => log.warn({ err }, 'hold refresh failed: keeping the holds last seen'), () => log.info({}, 'hold refresh works again'));
    await this.holds.start();
    this.pauses = new Pauses(this.holds, clock, log);
    if (config.cluster) this.startClusterWiring(config.cluster);
    this.outcomes = new OutcomeRouter({
      node: this,
      log,
      health: { record: (o) => this.health.record(o) },
      observers: [(o, e) => this.obs?.onOutcome(o, e)],
    });
    const parts = this.buildRouting(config);
    this.scheduler = new Scheduler({ spool: this.spool, clock, log, onOutcome: (o) => this.outcomes.handle(o), beforeRemove: (e) => this.outcomes.beforeRemove(e), ...parts });
    this.obs = await startObservability(this);
    this.pauses.subscribe({ paused: (c) => this.obs?.observer.sourcePaused(c), resumed: (c) => this.obs?.observer.sourceResumed(c) });

    this.disk = new DiskGuard({
      freeBytes: () => this.spool.freeBytes(),
      minFree: () => this.config.node.min_free_disk,
      changed: (low, free, why) => log.warn({ event: low ? 'disk_low' : 'disk_ok', free_bytes: free, why }, low ? 'low disk: refusing new mail with 452 4.3.1' : 'disk space back'),
    });
    const lost: LostMessage[] = [];
    const recovered = await this.spool.recover(
      (m) => this.scheduler.restore(m),
      (file, reason, damage) => lost.push(...logDamage(log, file, reason, damage)),
    );
    this.scheduler.restored();
    if (recovered > 0) log.info({ event: 'spool_recovered', messages: recovered }, 'queued messages recovered from spool');
    // Only now: a DSN is a new message, and nothing may use the spool during recovery.
    for (const m of lost) this.outcomes.lost(m.envelope, m.done, localResponse(550, '5.3.0', `message lost to damage in the spool of ${this.hostname}; please send it again`));

    await this.checkDisk();
    this.diskTimer = setInterval(() => void this.checkDisk(), 5_000);
    this.diskTimer.unref();

    const tls = await loadTls(config.tls, this.baseDir, this.dataDir, this.hostname);
    if (tls.generated) log.warn({ event: 'tls_self_signed', cert: tls.path }, 'no [tls] cert/key configured: using a self-signed certificate');
    if (config.feedback) {
      this.feedback = await FeedbackLoop.create({
        config: () => this.config,
        feedback: config.feedback,
        baseDir: this.baseDir,
        dataDir: this.dataDir,
        hostname: this.hostname,
        clock,
        log,
        providerOf: (domain) => this.providerOf(domain),
        outcome: (o) => this.outcomes.handle(o),
        inject: (envelope, message) => this.inject(envelope, message),
        count: (type, result) => this.obs?.observer.metrics.feedbackReport(type, result),
      });
    }
    const feedback = this.feedback;
    const routeHeaderNames = () => this.routeHeaderNames;
    const sink: AcceptSink = {
      // Read per message: a reload that adds a header route must see that header on the next message.
      get routeHeaders() {
        return routeHeaderNames();
      },
      // A client's own X-Sluice-FBL never leaves: only ours can be read back from a report.
      // X-Sluice-Peer is what peers sign (cluster/peer-facts.ts): never taken from a client.
      privateHeaders: [...(feedback ? ['x-sluice-class', 'x-sluice-fbl'] : ['x-sluice-class']), PEER_HEADER.toLowerCase()],
      ...(feedback ? { stamp: (envelope: Envelope) => feedback.stamp(envelope) } : {}),
      accept: async (envelope, message) => {
        // The envelope's JSON is small next to the body; 4 kB covers it and the record header.
        const release = this.disk.reserve(message.length + 4096);
        try {
          await this.spool.commit(envelope, message);
          release(true);
        } catch (err) {
          release(false);
          if (this.disk.failed(err)) throw new SluiceError('SPOOL_FULL', `spool full while writing ${envelope.id}`, { cause: err });
          throw err;
        }
        this.scheduler.add(envelope);
        this.queued(envelope);
      },
      dropped: (envelope, rcpts, reason) => this.outcomes.dropped(envelope, rcpts, reason),
    };
    const authLimiter = smtpAuthLimiter(this.state.failures, () => this.config, {
      failed: () => this.obs?.observer.metrics.authFailure('smtp'),
      refused: () => this.obs?.observer.metrics.authRefused('smtp'),
    });
    const limitEvents = {
      refused: (listener: string, reason: string) => this.obs?.observer.metrics.ingressRefused(listener, reason),
      stress: (listener: string, on: boolean) => this.obs?.observer.metrics.ingressStress(listener, on),
    };
    const secret = config.cluster?.secret;
    if (config.cluster && secret !== undefined) {
      this.cluster = new ClusterLink({ nodeId: config.node.id, hostname: this.hostname, cluster: { ...config.cluster, secret }, log });
    }
    for (const listen of config.listen) {
      if (listen.mode === 'cluster') {
        const cl = new ClusterListener({ listen, nodeId: config.node.id, hostname: this.hostname, secret: secret ?? '', tls, maxMessageSize: () => this.config.relay.max_message_size, clock, log, accept: (e, m) => sink.accept(e, m), received: (kind, ok) => this.obs?.observer.metrics.peerReceived(kind, ok) });
        this.ports.push(await (this.cluster as ClusterLink).bind(cl, listen).catch((err: unknown) => Promise.reject(listenError(err, listen.host, listen.port))));
        log.info({ event: 'listening', host: listen.host, port: this.ports[this.ports.length - 1], mode: listen.mode, advertise: this.cluster?.advertise }, 'listening');
        continue;
      }
      const l = new Listener({ config, listen, hostname: this.hostname, tls, plugins: this.plugins, sink, clock, log, authLimiter, admission: async () => (this.disk.low() ? replies.lowDisk : null), ...(feedback ? { feedback } : {}), postmasterDir: join(this.dataDir, 'postmaster'), onAccepted: (name, seconds) => this.obs?.observer.metrics.acceptLatency(name, seconds), limitEvents });
      try {
        this.ports.push(await l.listen());
      } catch (err) {
        throw listenError(err, listen.host, listen.port);
      }
      this.listeners.push(l);
      log.info({ event: 'listening', host: listen.host, port: this.ports[this.ports.length - 1], mode: listen.mode, tls: listen.tls }, 'listening');
    }
  }

  /**
   * Routing, shaping and delivery parts built from one config: what a reload replaces.
   * Holds, pauses, the spool and the queue itself live on.
   */
  private buildRouting(config: Config) {
    const { clock, log } = this;
    this.resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock });
    this.warmup = new WarmupGate(config, this.state, clock);
    this.warmup.onExhausted((source, day, cap) => {
      log.warn({ event: 'warmup_exhausted', source, day, cap }, `warm-up cap of ${source} reached for ${day}`);
      this.obs?.observer.warmupExhausted(source, day, cap);
    });
    this.picker = new SourcePicker(config, this.state, this.holds, this.warmup, config.node.id, this.hostname, clock);
    this.health = new HealthMonitor({ config, state: this.state, holds: this.holds, pauses: this.pauses, clock, log });
    const suppression = (config.suppression ?? {}) as { check_domain?: boolean };
    const checkDomain = suppression.check_domain !== false;
    const runSession = createSessionRunner({
      config,
      spool: this.spool,
      state: this.state,
      picker: this.picker,
      warmup: this.warmup,
      pauses: this.pauses,
      clock,
      log,
      onSessionChange: (source, provider, delta) => this.connections.change(source, provider, delta),
      degraded: () => this.state.degraded(),
      sendWindows: this.sendWindows,
      // Re-checked just before sending: an address suppressed after it was queued is not mailed.
      ...(pluginOrder(config).includes('suppression')
        ? {
            recipientFilter: async (rcpt: string) => {
              const hit = await this.state.suppression.check(rcpt);
              return hit === null || (!checkDomain && hit.address.startsWith('@'));
            },
          }
        : {}),
    });
    const router = new Router(config);
    this.routeHeaderNames = router.headerNames();
    return {
      config,
      resolver: this.resolver,
      providers: new ProviderTable(config),
      router,
      runSession,
      maxSessions: (rq: { pool: string; provider: ProviderLimits }) => this.picker.maxSessions(rq.pool, rq.provider),
    };
  }

  /** Re-reads the config files; a valid config applies without dropping sessions or mail. */
  async reload(by: string): Promise<ReloadResult> {
    const loaded = loadConfig(this.loaded.files[0]?.path ?? '');
    const { changes, restartNeeded } = diffConfig(this.current, loaded.config);
    // Sections that need new sockets or plugins keep their running values until a restart.
    const next = { ...loaded.config } as Record<string, unknown>;
    for (const key of RESTART_ONLY) next[key] = (this.current as Record<string, unknown>)[key];
    const config = next as Config;
    this.loaded = { ...loaded, pluginTables: this.loaded.pluginTables };
    this.current = config;
    this.scheduler.reconfigure(this.buildRouting(config));
    for (const l of this.listeners) l.reconfigure(config);
    this.log.info({ event: 'config_reloaded', by, changes, restart_needed: restartNeeded }, changes.length ? `config reloaded: ${changes.join('; ')}` : 'config reloaded: no changes');
    return { files: loaded.files.map((f) => f.path), changes };
  }

  /** The provider shaping throttles `domain` as (from its MX hosts, cached): a name, or "default". */
  async providerOf(domain: string): Promise<string> {
    const providers = new ProviderTable(this.config);
    const route = await this.resolver.resolve(domain);
    if (route.kind === 'failed') return providers.match(domain, []) ?? 'default';
    return providers.limits(domain, route.mxNames, route.site).name;
  }

  /** Recipients per (pool, provider) and the oldest one's age, for the gauges and the API. */
  queueRows() {
    return this.scheduler.queueRows();
  }

  openConnections() {
    return this.connections.rows();
  }

  /** True while the node refuses new mail: a maintenance drain or a SIGTERM stop. */
  get draining(): boolean {
    return this.stopping || this.maintenance !== null;
  }

  /**
   * Maintenance drain: new sessions and transactions get 421 4.3.2 (a balancer or the
   * apps' retries send them to another node), /readyz says "draining", transactions in
   * flight finish, and every deferred recipient is retried now so the queue empties.
   * Mail that still cannot leave stays spooled here (handing it to a peer is not built).
   * Returns how many deferred items were made due.
   */
  drain(by: string): number {
    if (this.stopping) throw new SluiceError('USAGE', 'the node is stopping');
    if (this.maintenance === null) {
      this.maintenance = { since: this.clock.now(), by };
      for (const l of this.listeners) l.refuseNew(replies.draining);
    }
    const flushed = this.scheduler.flush();
    this.log.warn({ event: 'drain_started', by, flushed, queued: this.scheduler.depth }, 'draining: refusing new mail, delivering what is queued');
    return flushed;
  }

  /** Ends a maintenance drain: the node accepts mail again. False when none was under way. */
  undrain(by: string): boolean {
    if (this.maintenance === null || this.stopping) return false;
    this.maintenance = null;
    for (const l of this.listeners) l.refuseNew(null);
    this.log.info({ event: 'drain_cancelled', by, queued: this.scheduler.depth }, 'drain ended: accepting mail again');
    return true;
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (this.disk?.low()) reasons.push(`free disk below min_free_disk: refusing new mail`);
    if (!this.state.healthy() || this.state.degraded()) reasons.push('shared state (Redis) unreachable: delivering within this node\'s share of each limit');
    return { ready: reasons.length === 0, reasons };
  }

  /** The `queued` notification: plugins' observers, metrics, the event log and webhooks. */
  private queued(envelope: Envelope): void {
    for (const rcpt of envelope.rcpts) {
      const e: OutcomeEvent = { queueId: envelope.id, messageId: envelope.messageId, recipient: rcpt, mailFrom: envelope.mailFrom, class: envelope.class, pool: envelope.pool ?? '', source: null, provider: null, mx: null, reply: null, enhanced: null, attempt: 0, at: this.clock.now() };
      this.plugins.emit('queued', e);
      this.obs?.observer.outcome('queued', e, envelope.campaign);
    }
  }

  /** Accepts a message generated here (a DSN) exactly as if it came in over SMTP. */
  async inject(envelope: Envelope, message: Buffer): Promise<void> {
    // min_free_disk is the room kept for DSNs like this one: no reservation, but a full disk is noticed.
    await this.spool.commit(envelope, message).catch((err: unknown) => {
      this.disk.failed(err);
      throw err;
    });
    this.scheduler.add(envelope);
    this.queued(envelope);
  }

  /**
   * Shaping wiring for `[cluster]`: log when limits fall back to this node's share and
   * come back; heartbeat into the node registry, whose live count sizes that share
   * (until gateway/cluster owns the registry).
   */
  private startClusterWiring(cluster: NonNullable<Config['cluster']>): void {
    const state = this.state;
    this.limitsWatch = new SharedLimitsWatch(state, this.log, () => this.clock.now(), () => (state instanceof ResilientState ? { fleet_size: state.fleetSize() } : {}));
    this.limitsWatch.start();
    const info = { id: this.config.node.id, address: this.hostname, startedAt: this.startedAt, version: VERSION };
    // live() after each beat keeps the fleet size (what local shares divide by) current.
    const beat = () => {
      // The board carries this node's numbers to the fleet's dashboard (cluster/fleet-board.ts).
      const board = this.obs ? makeBoard(this.obs.observer.stats, this.queueRows()) : undefined;
      const advertise = this.cluster?.advertise;
      void state.nodes
        .heartbeat({ ...info, draining: this.draining, ...(advertise ? { cluster: advertise } : {}), ...(board ? { board } : {}) }, cluster.failover_after)
        .then(() => state.nodes.live())
        .then((nodes) => this.cluster?.observe(nodes))
        .catch(() => undefined);
    };
    beat();
    this.heartbeat = setInterval(beat, cluster.heartbeat);
    this.heartbeat.unref();
  }

  private async checkDisk(): Promise<void> {
    try {
      await this.disk.check();
    } catch (err) {
      this.log.warn({ err }, 'cannot read free disk space');
    }
  }

  /** SIGTERM: stop accepting (421 4.3.2), finish transactions and deliveries, then close. */
  async stop(): Promise<void> {
    const timeout = this.config.node.drain_timeout;
    this.log.info({ event: 'stopping', drain_timeout_ms: timeout }, 'stopping');
    this.stopping = true;
    if (this.diskTimer) clearInterval(this.diskTimer);
    await Promise.all([...this.listeners.map((l) => l.stop(timeout)), this.cluster?.stop(timeout)]);
    await this.scheduler?.stop(timeout);
    this.holds?.stop();
    this.pauses?.stop();
    this.limitsWatch?.stop();
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
      await this.state.nodes.leave(this.config.node.id).catch(() => undefined);
    }
    await this.obs?.close();
    await this.spool?.close();
    await this.state?.close();
    this.log.info({ event: 'stopped', queued: this.scheduler?.depth ?? 0 }, 'stopped; queued mail stays in the spool');
  }
}
