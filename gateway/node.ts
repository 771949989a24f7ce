/**
 * The composition root: builds every part once from the config, in the order the types
 * enforce (a part is a local const; it takes only parts built before it, as narrow ports),
 * and wires them together. The only place (with the CLI) that picks implementations and
 * touches process state. Builders: node-parts.ts (routing, shaping, the accept sink) and
 * telemetry.ts (observe/). docs/ARCHITECTURE.md draws the parts and their ports.
 */
import { BounceClassifier } from './bounce/classify.js';
import { loadBounceRules, shippedRulesPath } from './bounce/rules.js';
import { hostname as osHostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { configPath } from './config/paths.js';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { diffConfig, RESTART_ONLY } from './config/diff.js';
import type { Config } from './config/schema.js';
import { systemClock, type Clock, type NodeInfo } from './state/types.js';
import { createState, type ManagedState } from './state/create.js';
import { SegmentSpool } from './spool/segment-spool.js';
import { DiskGuard } from './spool/disk-guard.js';
import { logDamage } from './spool/damage-log.js';
import type { DsnFor, Envelope, LostMessage, Spool } from './spool/types.js';
import { localResponse } from './delivery/response.js';
import { PluginHost, pluginOrder } from './plugin-host/host.js';
import type { OutcomeEvent } from './plugin-host/public.js';
import { HoldCache } from './shaping/hold-cache.js';
import { holdsByTarget } from './shaping/keys.js';
import { today } from './shaping/warmup-gate.js';
import { AutoHolds } from './shaping/auto-holds.js';
import { SendWindows } from './shaping/send-window.js';
import { ProviderTable, type ProviderLimits } from './shaping/providers.js';
import { startQueueControl } from './queue-wiring.js';
import { Scheduler } from './queue/scheduler.js';
import type { Listener } from './ingress/listener.js';
import { replies } from './ingress/replies.js';
import { traceField } from './ingress/transaction.js';
import { Router } from './routing/router.js';
import { OutcomeRouter } from './bounce/outcomes.js';
import { FeedbackLoop } from './bounce/feedback-loop.js';
import type { PoolQuery } from './bounce/feedback-intake.js';
import { peerBoards } from './cluster/fleet-board.js';
import { BounceReturn } from './bounce/bounce-return.js';
import { loadSecret } from './bounce/secret.js';
import { verpSender, VerpTokens } from './bounce/verp.js';
import { BOUNCE_WINDOW_MS, SenderLog } from './bounce/sender-log.js';
import { createLogger, type NodeLog } from './observe/logger.js';
import { NodeControl, VERSION } from './observe/node-control.js';
import type { Observer } from './observe/observer.js';
import type { EventSink, PeerStep } from './observe/event-types.js';
import type { AdminServer, Readiness } from './observe/admin-server.js';
import type { ReloadResult } from './observe/admin-control.js';
import { HealthSocket } from './observe/health-socket.js';
import { ConfigRollout, ConfigVersions, type RolloutStatus } from './cluster/config-rollout.js';
import { SluiceError } from './errors.js';
import { ConnectionCounter, createObserver, outcomeTelemetry, startAdmin, startGauges } from './telemetry.js';
import { acceptSink, buildCluster, buildRouting, startListeners, type RoutingParts, type RoutingPorts } from './node-parts.js';
import type { Membership, MembershipView } from './cluster/membership.js';
import { ClusterLink } from './cluster/cluster-link.js';
import type { ReplicaLedger } from './state/replica-ledger.js';
import { buildReplication, keptReplicas } from './node-replicas.js';
import { Handoff } from './cluster/handoff.js';
import { PoolShares, ShareExchange } from './cluster/pool-shares.js';

/** How often a "redis"-mode node also polls for a new config version (besides the announcement). */
const ROLLOUT_POLL_MS = 5_000;

export interface NodeOptions {
  readonly loaded: LoadedConfig;
  readonly clock?: Clock;
  readonly logger?: NodeLog;
}

/** What a started node runs on: built once by start(), never replaced (routing parts aside). */
interface Parts {
  readonly state: ManagedState;
  readonly spool: Spool;
  readonly observer: Observer;
  readonly plugins: PluginHost;
  readonly holds: HoldCache;
  readonly autoHolds: AutoHolds;
  readonly outcomes: OutcomeRouter;
  readonly scheduler: Scheduler;
  readonly disk: DiskGuard;
  readonly feedback: FeedbackLoop | null;
  readonly listeners: readonly Listener[];
  /** Ports actually bound, in [[listen]] order (0 in the config means "any free port"). */
  readonly ports: readonly number[];
  readonly admin: AdminServer | null;
  /** `<data_dir>/sluice.sock`: what `sluice health` asks whatever [admin] says. */
  readonly healthSocket: HealthSocket | null;
  /** The [cluster] parts, when configured: stopped before the state closes. */
  readonly cluster: { readonly membership: Membership; stop(timeoutMs: number): Promise<void> } | null;
  /** Queue control (issue 17). */
  readonly queue: { stop(): Promise<void> };
  readonly timers: readonly NodeJS.Timeout[];
  /** The replica ledger (replicas = 2): closed after the spool has published its last final ids. */
  readonly ledger: ReplicaLedger | null;
  /** [bounces] forward: original senders on their way to the state; flushed before it closes. */
  readonly senders: SenderLog | null;
}

export class SluiceNode {
  #config: Config;
  #loaded: LoadedConfig;
  /** The node's own main config file: what SIGHUP re-reads (a version from Redis has its own). */
  readonly #localMain: string;
  #rollout: ConfigRollout | null = null;
  #parts: Parts | null = null;
  /** Replaced by each reload. */
  #routing: RoutingParts | null = null;
  #stopping = false;
  /** [bounces] domain: the VERP envelope sender of each delivery (set at start, kept over reloads). */
  #returnPath: RoutingPorts['returnPath'];
  #maintenance: { readonly since: number; readonly by: string; readonly handoff: boolean } | null = null;
  /** [cluster] with a secret: passes items to the peer holding their pool's source. */
  #handoff: Handoff<ProviderLimits> | null = null;
  readonly log: NodeLog;
  readonly clock: Clock;
  readonly hostname: string;
  readonly dataDir: string;
  /** The directory relative paths in the config resolve against. */
  readonly baseDir: string;
  readonly registry = new Registry();
  readonly startedAt: number;
  readonly connections = new ConnectionCounter();
  /** This node's sends per rate key; outlives reloads, since sends in flight still count. */
  readonly #sendWindows: SendWindows;

  constructor(opts: NodeOptions) {
    this.#loaded = opts.loaded;
    this.#localMain = opts.loaded.files[0]?.path ?? '';
    this.#config = opts.loaded.config;
    this.baseDir = opts.loaded.baseDir;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger(this.config.node.id);
    this.hostname = this.config.node.hostname ?? osHostname();
    this.dataDir = configPath(opts.loaded.baseDir, this.config.node.data_dir);
    this.startedAt = this.clock.now();
    this.#sendWindows = new SendWindows(this.clock);
  }

  get config(): Config {
    return this.#config;
  }

  /** The parts, once start() has built them. */
  get #started(): Parts {
    if (this.#parts === null) throw new SluiceError('USAGE', 'the node is not started');
    return this.#parts;
  }

  get state(): ManagedState { return this.#started.state; }
  get spool(): Spool { return this.#started.spool; }
  get plugins(): PluginHost { return this.#started.plugins; }
  get scheduler(): Scheduler { return this.#started.scheduler; }
  get holds(): HoldCache { return this.#started.holds; }
  get autoHolds(): AutoHolds { return this.#started.autoHolds; }
  get listeners(): readonly Listener[] { return this.#started.listeners; }
  get ports(): readonly number[] { return this.#started.ports; }
  get feedback(): FeedbackLoop | null { return this.#started.feedback; }
  get observer(): Observer | null { return this.#parts?.observer ?? null; }
  /** Fleet membership ([cluster]): live peers, onDown / onUp; null on a single node or before start. */
  get membership(): MembershipView | null { return this.#parts?.cluster?.membership ?? null; }
  get maintenance(): { readonly since: number; readonly by: string; readonly handoff: boolean } | null { return this.#maintenance; }

  async start(): Promise<void> {
    const { log, clock } = this;
    const cluster = this.config.cluster;
    const rollout = cluster?.config === 'redis' ? this.#newRollout(cluster) : null;
    // The newest version from Redis before anything is built: no mail is routed by this
    // file's own sources and pools first. The restart-only sections stay this file's.
    await rollout?.prime(async (loaded) => {
      this.#loaded = { ...loaded, pluginTables: this.#loaded.pluginTables };
      this.#config = withRestartOnly(loaded.config, this.#config);
    });
    // Set before the build: the first heartbeat (sent during it) says the version running.
    this.#rollout = rollout;
    // Closes what was built if a later step fails (a port in use, a bad certificate).
    const built: (() => Promise<unknown> | void)[] = [];
    try {
      this.#parts = await this.#build(this.config, log, clock, built);
    } catch (err) {
      for (const close of built.reverse()) await Promise.resolve(close()).catch(() => undefined);
      this.#rollout = null;
      await rollout?.stop().catch(() => undefined);
      throw err;
    }
    await rollout?.start();
  }

  /** `[cluster] config = "redis"`: config versions from Redis apply through reload (cluster/config-rollout.ts). */
  #newRollout(cluster: NonNullable<Config['cluster']>): ConfigRollout {
    return new ConfigRollout({
      versions: new ConfigVersions(cluster.redis_url, cluster.key_prefix),
      localMain: this.#localMain,
      options: this.#loaded.options ?? {},
      apply: (loaded, by) => this.reload(by, loaded),
      log: this.log,
      registry: this.registry,
      pollMs: ROLLOUT_POLL_MS,
      memory: join(this.dataDir, 'config-version.json'),
    });
  }

  /** The config version from Redis this node runs, and the last one that did not apply (null: "file" mode). */
  configRollout(): RolloutStatus | null {
    return this.#rollout?.status() ?? null;
  }

  async #build(config: Config, log: NodeLog, clock: Clock, built: (() => Promise<unknown> | void)[]): Promise<Parts> {
    await mkdir(this.dataDir, { recursive: true });
    const state = await createState({ dataDir: join(this.dataDir, 'state'), clock, ...(config.cluster ? { redisUrl: config.cluster.redis_url, redisPrefix: config.cluster.key_prefix, commandTimeoutMs: config.cluster.command_timeout, leaseHolder: config.node.id } : {}) });
    built.push(() => state.close());
    const segments = await SegmentSpool.open(join(this.dataDir, 'spool'), { clock });
    built.push(() => segments.close());
    // [cluster] secret: the node-to-node transport; replicas = 2: copies on a peer (node-replicas.ts).
    const secret = config.cluster?.secret;
    const link = config.cluster && secret !== undefined ? new ClusterLink({ nodeId: config.node.id, hostname: this.hostname, cluster: { ...config.cluster, secret }, log, maxBatchBytes: config.relay.max_message_size }) : null;
    if (config.cluster?.replicas === 2 && (!link || !config.listen.some((l) => l.mode === 'cluster'))) throw new SluiceError('CONFIG_INVALID', '[cluster] replicas = 2 needs [cluster] secret and a [[listen]] with mode = "cluster" (peers send the copies there)');
    const replication = config.cluster?.replicas === 2 && link ? await buildReplication({ config: () => this.config, cluster: config.cluster, nodeId: config.node.id, dataDir: this.dataDir, link, log, clock, metrics: () => this.#parts?.observer.metrics ?? null }) : null;
    const spool: Spool = replication ? replication.wrap(segments) : segments;
    // [cluster]: membership (heartbeat, live peers, failover), started once the queue runs.
    const shares = link ? new PoolShares(config.node.id, () => clock.now()) : null;
    const cluster = config.cluster ? this.#buildCluster(config.cluster, state, link) : null;
    // Cluster-fair weights: entry counts go round a few times a second, apart from the heartbeat.
    const exchange = shares && cluster ? new ShareExchange({ self: config.node.id, shares, registry: state.nodes, live: () => cluster.membership.live() }) : null;
    const fleet = cluster?.membership ?? null;
    // Every part below reports into the Observer; its alerts read the queue once started.
    const observer = createObserver({ config, baseDir: this.baseDir, registry: this.registry, log, clock, fleet, queue: () => scheduler });
    built.push(() => observer.close());
    const m = observer.metrics;
    const plugins = await PluginHost.load({
      order: pluginOrder(config),
      timeoutMs: config.plugins.timeout,
      tables: { dkim: config.dkim, classify: config.classify, suppression: config.suppression, ...this.#loaded.pluginTables },
      configFile: this.#loaded.files[0]?.path ?? '',
      tableFile: (table) => this.#loaded.origin[table] ?? this.#loaded.files[0]?.path ?? '',
      baseDir: this.baseDir,
      state,
      metrics: this.registry,
      logger: (name) => log.child({ plugin: name }),
      onFailure: (plugin, hook, reason) => m.pluginFailure(plugin, hook, reason),
    });
    // Shaping: holds, and the holds shaping sets on its own (docs/SHAPING.md).
    const holds = new HoldCache(state, clock, (err) => log.warn({ err }, 'hold refresh failed: keeping the holds last seen'), () => log.info({}, 'hold refresh works again'));
    await holds.start();
    built.push(() => holds.stop());
    const autoHolds = new AutoHolds(holds, clock, log);
    built.push(() => autoHolds.stop());
    autoHolds.subscribe({ held: (c) => observer.held(c), lapsed: (c) => observer.lifted(c) });
    const disk = new DiskGuard({
      freeBytes: () => spool.freeBytes(),
      minFree: () => this.config.node.min_free_disk,
      changed: (low, free, why) => log.warn({ event: low ? 'disk_low' : 'disk_ok', free_bytes: free, why }, low ? 'low disk: refusing new mail with 452 4.3.1' : 'disk space back'),
    });
    // Puts a committed message on the queue; a DSN or a forward is committed here first.
    const enqueue = (envelope: Envelope) => {
      scheduler.add(envelope);
      this.#queued(envelope, plugins, observer);
    };
    const inject = async (envelope: Envelope, message: Buffer) => {
      // min_free_disk is the room kept for DSNs like this one: no reservation, but a full disk is noticed.
      await spool.commit(envelope, message).catch((err: unknown) => {
        disk.failed(err);
        throw err;
      });
      enqueue(envelope);
    };
    const classifier = new BounceClassifier(loadBounceRules([...config.bounces.rules.map((f) => configPath(this.baseDir, f)), shippedRulesPath()]));
    // [bounces] domain: VERP return paths on the way out, the bounce intake on the way in.
    const verp = config.bounces.domain === undefined ? null : new VerpTokens(await loadSecret('[bounces]', config.bounces, this.baseDir, this.dataDir, 'verp.key'), config.bounces.domain);
    // [bounces] forward: the original sender is kept where the node a bounce reaches finds it (bounce/sender-log.ts); off, nothing is written.
    const senders = verp && config.bounces.forward ? new SenderLog({ store: state.senders, ttlMs: () => this.config.queue.max_age + BOUNCE_WINDOW_MS, log }) : null;
    this.#returnPath = verp
      ? (envelope, rcpts, source, pool) => {
          const path = verpSender(verp, envelope, rcpts, source, pool);
          if (senders && path !== envelope.mailFrom) senders.note(envelope.id, envelope.mailFrom);
          return path;
        }
      : undefined;
    const outcomes = new OutcomeRouter({
      clock,
      hostname: this.hostname,
      log,
      plugins,
      suppression: state.suppression,
      readBody: (id) => spool.readBody(id),
      inject,
      health: { record: (o) => this.#routing?.health.record(o) },
      classifier,
      observers: [outcomeTelemetry(observer, clock)],
    });
    const routing = this.#buildRouting(config, { state, spool, holds, autoHolds, observer });
    this.#routing = routing;
    // Items whose pool sends from a peer go to it over the cluster listener (cluster/handoff.ts).
    const handoff = link && shares && cluster ? this.#buildHandoff(link, shares, cluster.membership, spool, () => m, observer.sink) : null;
    this.#handoff = handoff;
    const scheduler = new Scheduler({ spool, clock, log, onOutcome: (o) => outcomes.handle(o), beforeRemove: (e) => outcomes.beforeRemove(e), dsnFirst: (e, ends) => outcomes.dsnFirst(e, ends), ...routing.scheduler, rulesFile: join(this.dataDir, 'queue-rules.json'), ...(handoff ? { handoff } : {}) });
    built.push(() => scheduler.stop(0));
    startGauges(observer, { fleet, queue: scheduler, connections: this.connections, stateHealthy: () => state.healthy(), sources: () => Object.keys(this.config.sources), warmup: { cap: (s) => this.#routing?.warmup.cap(s) ?? null, used: (s) => this.#routing?.warmup.used(s) ?? Promise.resolve(0) } });

    await this.#recover(spool, scheduler, outcomes, log, (await replication?.taken()) ?? new Map(), replication?.ledger ?? null);
    const timers = [await this.#watchDisk(disk)];
    built.push(() => clearInterval(timers[0]));

    if (cluster) {
      cluster.start();
      built.push(() => cluster.stop());
      exchange?.start();
      built.push(() => exchange?.stop());
      replication?.start(cluster.membership, async (envelope, body, origin) => {
        await spool.commit(envelope, body);
        scheduler.add(envelope);
        this.#queued(envelope, plugins, observer, origin);
        log.info({ event: 'replica_taken_over', queue_id: envelope.id, origin, message_id: envelope.messageId }, `took over ${envelope.id} from ${origin}`);
      });
      if (replication) built.push(() => replication.stop());
    }

    // The pool routing picks for a message a feedback report or a bounce describes.
    const routedPool = (cfg: Config, q: PoolQuery): string => new Router(cfg).decide({ envelope: { class: q.class, mailFrom: q.mailFrom, authUser: null, routeHeaders: {}, pool: null, priority: null }, domain: q.domain, provider: q.provider }).pool;
    const feedback = config.feedback
      ? await FeedbackLoop.create({
          config: () => this.config,
          feedback: config.feedback,
          baseDir: this.baseDir,
          dataDir: this.dataDir,
          hostname: this.hostname,
          clock,
          log,
          providerOf: (domain) => this.providerOf(domain),
          outcome: (o) => outcomes.handle(o),
          inject,
          count: (type, result) => m.feedbackReport(type, result),
          trace: (from, queueId, now) => traceField(from.connection, this.hostname, queueId, from.rcpts, now),
          routedPool,
          claims: state.claims,
        })
      : null;

    const bounces = verp ? new BounceReturn({ tokens: verp, routedPool, classifier, config: () => this.config, forward: config.bounces.forward, senders, feedback, providerOf: (domain) => this.providerOf(domain), outcome: (o) => outcomes.handle(o), count: (result) => m.bounceReceived(result), claims: state.claims, clock, log }) : null;

    // The listeners' AcceptSink: where every finished transaction goes.
    const sink = acceptSink({ spool, disk, enqueue, dropped: (envelope, rcpts, reason) => outcomes.dropped(envelope, rcpts, reason), routeHeaders: () => this.#routing?.routeHeaderNames ?? [], feedback, maxSchedule: () => this.config.queue.max_schedule });
    const { listeners, ports } = await startListeners(config, { log, clock, hostname: this.hostname, baseDir: this.baseDir, dataDir: this.dataDir, config: () => this.config, plugins, sink, disk, feedback: bounces ?? feedback, metrics: m, failures: state.failures, ...(link && secret !== undefined ? { cluster: { link, secret, replicas: replication ? keptReplicas(replication.store, observer.sink, config.node.id, clock) : undefined, received: (kind, ok) => m.peerReceived(kind as 'handoff', ok) } } : {}) }, built);
    // Peers learn the cluster listener's address from the heartbeat: publish it now, not a heartbeat later.
    if (cluster && link) await cluster.membership.beat();

    const control = new NodeControl({
      nodeId: config.node.id,
      hostname: this.hostname,
      startedAt: this.startedAt,
      config: () => this.config,
      clock,
      log,
      state,
      fleet,
      holds: holdsByTarget(holds),
      warmup: () => {
        const w = this.#routed.warmup;
        return { cap: (source) => w.cap(source), used: (source) => w.used(source), day: () => today(clock) };
      },
      providerLimits: (name) => new ProviderTable(this.config).limitsOf(name === 'default' ? null : name, ''),
      peerQueues: (live) => peerBoards(live, config.node.id).flatMap((b) => b.queue),
      queue: scheduler,
      openConnections: () => this.connections.rows(),
      holdEvents: observer,
      lifecycle: this.#lifecycle(),
      configRollout: () => this.configRollout(),
    });
    const queue = await startQueueControl({ config, currentConfig: () => this.config, baseDir: this.baseDir, scheduler, clock, log, observer, nodes: state.nodes });
    built.push(() => queue.stop());
    const admin = await startAdmin({ config, baseDir: this.baseDir, registry: this.registry, log, observer, control, readiness: () => this.readiness(), fleet, failures: state.failures, queue: queue.routes });
    const healthSocket = await HealthSocket.open(this.dataDir, { node: config.node.id, readiness: () => this.readiness(), log });
    // The listener stops first: a copy a peer is sending now is kept (or refused) before the replica store closes.
    const stopCluster = async (timeoutMs: number): Promise<void> => {
      await link?.stop(timeoutMs);
      exchange?.stop();
      await replication?.stop();
      await cluster?.stop();
    };
    const clusterParts = cluster ? { membership: cluster.membership, stop: stopCluster } : null;
    return { state, spool, observer, plugins, holds, autoHolds, outcomes, scheduler, disk, feedback, listeners, ports, admin, healthSocket, cluster: clusterParts, queue, timers, ledger: replication?.ledger ?? null, senders };
  }

  /** Admin control's view of the node's lifecycle: reload and maintenance drain. */
  #lifecycle() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read the node's current state
    const node = this;
    return {
      reload: (by: string) => node.reload(by),
      drain: (by: string, handoff: boolean) => node.drain(by, handoff),
      undrain: (by: string) => node.undrain(by),
      get draining() {
        return node.draining;
      },
      get maintenance() {
        return node.maintenance;
      },
    };
  }

  get #routed(): RoutingParts {
    if (this.#routing === null) throw new SluiceError('USAGE', 'the node is not started');
    return this.#routing;
  }

  /** Builds the parts one config makes (node-parts.ts) and keeps them for the ports that read them. */
  /** Builds the routing parts for `config` and changes nothing: the caller puts them in force. */
  #buildRouting(config: Config, p: Pick<Parts, 'state' | 'spool' | 'holds' | 'autoHolds' | 'observer'>): RoutingParts {
    return buildRouting(config, { ...p, clock: this.clock, log: this.log, connections: this.connections, sendWindows: this.#sendWindows, nodeId: config.node.id, hostname: this.hostname, ...(this.#returnPath ? { returnPath: this.#returnPath } : {}) });
  }

  /** Reads the spool back into the queue; messages lost to damage get a DSN once the queue runs. */
  async #recover(spool: Spool, scheduler: Scheduler, outcomes: OutcomeRouter, log: NodeLog, taken: ReadonlyMap<string, string>, ledger: ReplicaLedger | null): Promise<void> {
    const lost: LostMessage[] = [];
    // Peers took these over while this node was down (replicas = 2): theirs to deliver, not ours.
    const dropped: string[] = [];
    // DSNs committed just before a crash, ahead of the recipients they report: those are recorded below.
    const dsnsFirst: DsnFor[] = [];
    const recovered = await spool.recover(
      (msg) => {
        if (msg.envelope.dsnFor) dsnsFirst.push(msg.envelope.dsnFor);
        if (taken.has(msg.envelope.id)) dropped.push(msg.envelope.id);
        else scheduler.restore(msg);
      },
      (file, reason, damage) => lost.push(...logDamage(log, file, reason, damage)),
    );
    // Taken out of the waiting queue before it runs; recorded once their envelopes are read.
    const completed = scheduler.bouncedBeforeCrash(dsnsFirst);
    scheduler.restored();
    const ended = await completed;
    if (ended > 0) log.warn({ event: 'queue_bounce_completed', recipients: ended }, `cut short by a crash: ${ended} recipients whose DSN was already queued recorded as it says`);
    for (const id of dropped) await spool.remove(id);
    if (taken.size > 0) {
      log.warn({ event: 'replicas_taken_while_down', taken: taken.size, dropped: dropped.length }, `peers took over ${taken.size} messages while this node was down: dropped ${dropped.length} from the spool`);
      await ledger?.forgetTaken(this.config.node.id, [...taken.keys()]).catch(() => undefined);
    }
    if (recovered > 0) log.info({ event: 'spool_recovered', messages: recovered }, 'queued messages recovered from spool');
    // Only now: a DSN is a new message, and nothing may use the spool during recovery.
    for (const msg of lost) outcomes.lost(msg.envelope, msg.done, localResponse(550, '5.3.0', `message lost to damage in the spool of ${this.hostname}; please send it again`));
  }

  /** Checks free disk now (before any listener accepts) and every 5 s. */
  async #watchDisk(disk: DiskGuard): Promise<NodeJS.Timeout> {
    const check = () => disk.check().catch((err: unknown) => this.log.warn({ err }, 'cannot read free disk space'));
    await check();
    const timer = setInterval(() => void check(), 5_000);
    timer.unref();
    return timer;
  }

  /** The handoff: reads the running routing's source standing and the fleet's shares at each decision. */
  #buildHandoff(link: ClusterLink, shares: PoolShares, membership: MembershipView, spool: Spool, metrics: () => Observer['metrics'], sink: EventSink): Handoff<ProviderLimits> {
    return new Handoff<ProviderLimits>({
      self: this.config.node.id,
      config: () => this.config,
      standing: (source, provider) => this.#routed.picker.standing(source, provider),
      poolHeld: (pool) => this.#routed.picker.poolHeld(pool),
      peers: link,
      live: () => membership.live(),
      shares,
      send: (peer, facts, body) =>
        link.client.send(peer, facts, body).then(
          (r) => (metrics().peerSent('handoff', true), r),
          (err: unknown) => {
            metrics().peerSent('handoff', false);
            throw err;
          },
        ),
      readBody: (id) => spool.readBody(id),
      log: this.log,
      now: () => this.clock.now(),
      publish: (r) => sink.publish(r),
    });
  }

  /** [cluster] parts (node-parts.ts): they read the running parts at each heartbeat. */
  #buildCluster(cluster: NonNullable<Config['cluster']>, state: ManagedState, link: ClusterLink | null) {
    return buildCluster({
      advertise: () => link?.advertise,
      // The transport's live peers follow each registry read.
      ...(link ? { seen: (live: readonly NodeInfo[]) => link.observe(live) } : {}),
      cluster,
      config: () => this.config,
      state,
      clock: this.clock,
      log: this.log,
      info: { id: this.config.node.id, address: this.hostname, startedAt: this.startedAt, version: VERSION },
      draining: () => this.draining,
      configRollout: () => this.configRollout(),
      connections: this.connections,
      running: () => {
        const p = this.#parts;
        return p ? { observer: p.observer, queue: p.scheduler, disk: p.disk, sessionsIn: p.listeners.reduce((n, l) => n + l.sessions, 0) } : null;
      },
    });
  }

  /** Re-reads the config files; a valid config applies without dropping sessions or mail. */
  async reload(by: string, from?: LoadedConfig): Promise<ReloadResult> {
    const parts = this.#started;
    // In "redis" mode SIGHUP and the admin reload first try the versions newer than the
    // one running, refused ones too: the operator may have added what this node lacked.
    if (from === undefined && this.#rollout !== null) {
      const newer = await this.#rollout.retry((loaded, which) => this.reload(`${by}, ${which}`, loaded));
      if (newer !== null) return newer;
    }
    // In "redis" mode a SIGHUP re-applies the version running, not the local file.
    const loaded = from ?? this.#rollout?.current() ?? loadConfig(this.#localMain, this.#loaded.options);
    // Sections that need new sockets or plugins keep their running values until a restart.
    const config = withRestartOnly(loaded.config, this.#config);
    // A version from Redis never carries those sections (the node's own file does): no "restart needed" for them.
    const { changes, restartNeeded } = diffConfig(this.#config, from ? config : loaded.config);
    // All or nothing (a config version from Redis applies atomically): everything that can
    // fail is built first; only then does the node switch, in one synchronous step.
    const routing = this.#buildRouting(config, parts);
    const listeners = parts.listeners.map((l) => l.prepare(config));
    this.#loaded = { ...loaded, pluginTables: this.#loaded.pluginTables };
    this.#config = config;
    this.#routing = routing;
    parts.scheduler.reconfigure(routing.scheduler);
    for (const apply of listeners) apply();
    this.log.info({ event: 'config_reloaded', by, changes, restart_needed: restartNeeded }, changes.length ? `config reloaded: ${changes.join('; ')}` : 'config reloaded: no changes');
    return { files: loaded.files.map((f) => f.path), changes };
  }

  /** The provider shaping throttles `domain` as (from its MX hosts, cached): a name, or "default". */
  async providerOf(domain: string): Promise<string> {
    const providers = new ProviderTable(this.config);
    const route = await this.#routed.resolver.resolve(domain);
    if (route.kind === 'failed') return providers.match(domain, []) ?? 'default';
    return providers.limits(domain, route.mxNames, route.site).name;
  }

  /** Recipients per (pool, provider) and the oldest one's age, for the gauges and the API. */
  queueRows() {
    return this.#started.scheduler.queueRows();
  }

  /** True while the node refuses new mail: a maintenance drain or a SIGTERM stop. */
  get draining(): boolean {
    return this.#stopping || this.#maintenance !== null;
  }

  /**
   * Maintenance drain: new sessions and transactions get 421 4.3.2 (a balancer or the
   * apps' retries send them to another node), /readyz says "draining", transactions in
   * flight finish, and every deferred recipient is retried now so the queue empties.
   * With `handoff` (`sluice drain --handoff`), this node's own sources count as unusable:
   * every queued item is routed again and goes to a live peer that holds a source of its
   * pool; mail no live peer can send is delivered from here as in a plain drain.
   * Returns how many deferred items were made due.
   */
  drain(by: string, handoff = false): number {
    const { listeners, scheduler } = this.#started;
    if (this.#stopping) throw new SluiceError('USAGE', 'the node is stopping');
    if (handoff) {
      if (!this.#handoff) throw new SluiceError('USAGE', 'drain --handoff needs [cluster] with a secret (the cluster transport)');
      if (this.#parts?.cluster?.membership.live().every((n) => n.id === this.config.node.id || n.draining === true || !n.cluster)) throw new SluiceError('USAGE', 'drain --handoff: no live peer with a cluster listener to take the mail');
    }
    const wasHandoff = this.#maintenance?.handoff ?? false;
    if (this.#maintenance === null) for (const l of listeners) l.refuseNew(replies.draining);
    this.#maintenance = { since: this.#maintenance?.since ?? this.clock.now(), by, handoff: handoff || wasHandoff };
    if (this.#handoff) this.#handoff.draining = this.#maintenance.handoff;
    const flushed = scheduler.flush();
    const rerouted = this.#maintenance.handoff ? scheduler.rerouteReady() : 0;
    this.log.warn({ event: 'drain_started', by, flushed, rerouted, handoff: this.#maintenance.handoff, queued: scheduler.depth }, this.#maintenance.handoff ? 'draining: refusing new mail, handing what is queued to peers' : 'draining: refusing new mail, delivering what is queued');
    return flushed;
  }

  /** Ends a maintenance drain: the node accepts mail again. False when none was under way. */
  undrain(by: string): boolean {
    const { listeners, scheduler } = this.#started;
    if (this.#maintenance === null || this.#stopping) return false;
    this.#maintenance = null;
    if (this.#handoff) this.#handoff.draining = false;
    for (const l of listeners) l.refuseNew(null);
    this.log.info({ event: 'drain_cancelled', by, queued: scheduler.depth }, 'drain ended: accepting mail again');
    return true;
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (this.#parts?.disk.low()) reasons.push(`free disk below min_free_disk: refusing new mail`);
    if (this.#parts && (!this.#parts.state.healthy() || this.#parts.state.degraded())) reasons.push('shared state (Redis) unreachable: delivering within this node\'s share of each limit');
    return { ready: reasons.length === 0, reasons };
  }

  /**
   * The `queued` notification: plugins' observers, metrics, the event log and webhooks.
   * A message from a peer says how it came (the event log links the nodes' parts of its
   * life with it: queue/message-history.ts); `takenFrom`: taken over from a down node's replica.
   */
  #queued(envelope: Envelope, plugins: PluginHost, observer: Observer, takenFrom?: string): void {
    const mark = envelope.peer;
    const peer: PeerStep | undefined = takenFrom !== undefined
      ? { how: 'takeover', from: takenFrom, queue_id: envelope.id, origin: mark?.origin ?? takenFrom, hops: (mark?.hops ?? 0) + 1, trace: mark?.trace ?? '' }
      : mark
        ? { how: 'handoff', from: mark.from, queue_id: mark.queueId, origin: mark.origin, hops: mark.hops, trace: mark.trace }
        : undefined;
    for (const rcpt of envelope.rcpts) {
      const e: OutcomeEvent = { queueId: envelope.id, messageId: envelope.messageId, recipient: rcpt, mailFrom: envelope.mailFrom, class: envelope.class, pool: envelope.pool ?? '', source: null, provider: null, mx: null, reply: null, enhanced: null, attempt: 0, at: this.clock.now() };
      plugins.emit('queued', e);
      observer.outcome('queued', e, envelope.campaign, peer);
    }
  }

  /** SIGTERM: stop accepting (421 4.3.2), finish transactions and deliveries, then close. */
  async stop(): Promise<void> {
    const parts = this.#parts;
    if (parts === null) return;
    const timeout = this.config.node.drain_timeout;
    this.log.info({ event: 'stopping', drain_timeout_ms: timeout }, 'stopping');
    this.#stopping = true;
    for (const t of parts.timers) clearInterval(t);
    // One drain_timeout for the whole drain (systemd's TimeoutStopSec and a container's stop
    // timeout are set from it): transactions and deliveries in flight finish side by side
    // (what is accepted meanwhile stays spooled), then the cluster listener gets what is left.
    const deadline = Date.now() + timeout;
    await Promise.all([...parts.listeners.map((l) => l.stop(timeout)), parts.scheduler.stop(timeout)]);
    parts.holds.stop();
    parts.autoHolds.stop();
    await parts.cluster?.stop(Math.max(0, deadline - Date.now()));
    await this.#rollout?.stop();
    await parts.healthSocket?.close();
    await parts.queue.stop();
    await parts.admin?.close();
    await parts.observer.close();
    await parts.spool.close();
    await parts.ledger?.close();
    await parts.senders?.flush();
    await parts.state.close();
    this.log.info({ event: 'stopped', queued: parts.scheduler.depth }, 'stopped; queued mail stays in the spool');
  }
}

/** `next` with the sections a running node cannot change (RESTART_ONLY) taken from `running`. */
function withRestartOnly(next: Config, running: Config): Config {
  const merged = { ...next } as Record<string, unknown>;
  for (const key of RESTART_ONLY) merged[key] = (running as Record<string, unknown>)[key];
  return merged as Config;
}
