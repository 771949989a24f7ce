/**
 * Part of the composition root (node.ts): the builders of the parts a reload replaces
 * (routing, shaping and the delivery agent), of the sink ingress hands finished
 * transactions to, and of the listeners. Each takes the narrow ports it wires together, never the node.
 */
import type { Config } from './config/schema.js';
import { SluiceError } from './errors.js';
import { createSessionRunner } from './delivery/agent.js';
import type { HoldRequest, ReturnPath, ShapingPort, SourcePort } from './delivery/agent-ports.js';
import { MxResolver } from './delivery/mx-resolver.js';
import type { AcceptSink } from './ingress/transaction.js';
import type { FeedbackSink } from './ingress/feedback.js';
import { Listener } from './ingress/listener.js';
import { ClusterListener } from './ingress/cluster-listener.js';
import type { ClusterLink } from './cluster/cluster-link.js';
import type { ReplicaSink } from './cluster/replica-sink.js';
import { PEER_HEADER } from './cluster/peer-facts.js';
import { smtpAuthLimiter } from './ingress/auth-limiter.js';
import { loadTls } from './ingress/tls.js';
import { replies } from './ingress/replies.js';
import { listenError } from './listen-error.js';
import { join } from 'node:path';
import type { Metrics } from './observe/metrics.js';
import type { Logger } from './observe/logger.js';
import type { Observer } from './observe/observer.js';
import { pluginOrder, type PluginHost } from './plugin-host/host.js';
import type { ReadyQueue } from './queue/ready-queue.js';
import type { SchedulerDeps } from './queue/scheduler.js';
import { Router } from './routing/router.js';
import { leaseTtl, SourcePicker } from './routing/source-picker.js';
import { HealthMonitor } from './shaping/health-monitor.js';
import type { HoldCache } from './shaping/hold-cache.js';
import { holdScope } from './shaping/keys.js';
import type { AutoHolds } from './shaping/auto-holds.js';
import { ProviderTable, rateClaims, type ProviderLimits } from './shaping/providers.js';
import { matchRule } from './shaping/response-rules.js';
import type { SendWindows } from './shaping/send-window.js';
import { WarmupGate } from './shaping/warmup-gate.js';
import type { DiskGuard } from './spool/disk-guard.js';
import type { Envelope, Spool } from './spool/types.js';
import type { ManagedState } from './state/create.js';
import type { Clock, FailureLimitStore, NodeInfo } from './state/types.js';
import type { ConnectionCounter } from './telemetry.js';
import { performance } from 'node:perf_hooks';
import { ResilientState } from './state/resilient.js';
import { SharedLimitsWatch } from './shaping/shared-limits-watch.js';
import { Membership } from './cluster/membership.js';
import { LoadMeter } from './cluster/node-load.js';
import { makeBoard, type QueueRow } from './cluster/fleet-board.js';
import type { RolloutStatus } from './cluster/config-rollout.js';

export interface RoutingPorts {
  readonly state: ManagedState;
  readonly spool: Spool;
  readonly holds: HoldCache;
  readonly autoHolds: AutoHolds;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer: Observer;
  readonly connections: ConnectionCounter;
  /** This node's sends per rate key; outlives reloads, since sends in flight still count. */
  readonly sendWindows: SendWindows;
  readonly nodeId: string;
  readonly hostname: string;
  /** [bounces] domain: the VERP envelope sender of a delivery. */
  readonly returnPath?: ReturnPath;
}

/** Routing, shaping and delivery parts built from one config: what a reload replaces. */
export interface RoutingParts {
  readonly resolver: MxResolver;
  readonly warmup: WarmupGate;
  readonly picker: SourcePicker;
  readonly health: HealthMonitor;
  /** Header names [[routes]] read (lower-cased): ingress keeps their values. */
  readonly routeHeaderNames: readonly string[];
  /** What the scheduler takes from this config (Scheduler.reconfigure). */
  readonly scheduler: Pick<SchedulerDeps, 'config' | 'resolver' | 'providers' | 'router' | 'runSession' | 'maxSessions'>;
}

export function buildRouting(config: Config, p: RoutingPorts): RoutingParts {
  const { clock, log, state } = p;
  const resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock });
  const warmup = new WarmupGate(config, state, clock);
  warmup.onExhausted((source, day, cap) => {
    log.warn({ event: 'warmup_exhausted', source, day, cap }, `warm-up cap of ${source} reached for ${day}`);
    p.observer.warmupExhausted(source, day, cap);
  });
  const picker = new SourcePicker(config, state, p.holds, warmup, p.nodeId, p.hostname, clock);
  const health = new HealthMonitor({ config, state, holds: p.holds, autoHolds: p.autoHolds, clock, log });
  const suppression = (config.suppression ?? {}) as { check_domain?: boolean };
  const checkDomain = suppression.check_domain !== false;
  const runSession = createSessionRunner<ProviderLimits, ReadyQueue>({
    config,
    spool: p.spool,
    state,
    picker: sourcePort(picker, config),
    shaping: shapingPort(warmup, p.sendWindows, p.autoHolds),
    clock,
    log,
    onSessionChange: (source, provider, delta) => p.connections.change(source, provider, delta),
    degraded: () => state.degraded(),
    ...(p.returnPath ? { returnPath: p.returnPath } : {}),
    // Re-checked just before sending: an address suppressed after it was queued is not mailed.
    ...(pluginOrder(config).includes('suppression')
      ? {
          recipientFilter: async (rcpt: string) => {
            const hit = await state.suppression.check(rcpt);
            return hit === null || (!checkDomain && hit.address.startsWith('@'));
          },
        }
      : {}),
  });
  const router = new Router(config);
  return {
    resolver,
    warmup,
    picker,
    health,
    routeHeaderNames: router.headerNames(),
    scheduler: {
      config,
      resolver,
      providers: new ProviderTable(config),
      router,
      runSession,
      maxSessions: (rq: { pool: string; provider: ProviderLimits }) => picker.maxSessions(rq.pool, rq.provider),
    },
  };
}

/** The source picker as the delivery agent asks it. */
function sourcePort(picker: SourcePicker, config: Config): SourcePort<ProviderLimits> {
  return {
    pick: (pool, provider) => picker.pick(pool, provider),
    sourceHeld: (source, provider) => picker.status(source, provider).kind === 'held',
    poolHeld: (pool) => picker.poolHeld(pool),
    leaseTtlMs: leaseTtl(config),
  };
}

/** Warm-up, send windows, response rules and the holds they set, as the delivery agent asks them. */
function shapingPort(warmup: WarmupGate, sendWindows: SendWindows, autoHolds: AutoHolds): ShapingPort<ProviderLimits> {
  return {
    warmupTake: (source) => warmup.take(source),
    warmupGiveBack: (source) => warmup.giveBack(source),
    rateClaims,
    admit: (claims, deadline, giveUp) => sendWindows.admit(claims, deadline, giveUp),
    ruleFor: (provider, response) => matchRule(provider.rules, response),
    hold: (r: HoldRequest) => {
      autoHolds.hold({ scope: holdScope(r.target), source: r.target.kind === 'provider' ? '*' : r.target.source, provider: r.provider, reason: r.reason, detail: r.detail, by: r.by, until: r.until });
    },
  };
}

export interface SinkPorts {
  readonly spool: Pick<Spool, 'commit'>;
  readonly disk: DiskGuard;
  /** Queues a committed message and sends its `queued` notifications. */
  readonly enqueue: (envelope: Envelope) => void;
  /** Recipients a plugin dropped at accept time. */
  readonly dropped: AcceptSink['dropped'];
  /** Header names the routes in force read. */
  readonly routeHeaders: () => readonly string[];
  /** [feedback]: stamps the X-Sluice-FBL reference on outgoing mail. */
  readonly feedback: { stamp: NonNullable<AcceptSink['stamp']> } | null;
  /** `[queue] max_schedule` in force. */
  readonly maxSchedule?: () => number;
}

/** Where every listener hands a finished transaction: the spool (within the disk reserve), then the queue. */
export function acceptSink(p: SinkPorts): AcceptSink {
  const { feedback, disk } = p;
  return {
    // Read per message: a reload that adds a header route must see that header on the next message.
    get routeHeaders() {
      return p.routeHeaders();
    },
    // A client's own X-Sluice-FBL never leaves: only ours can be read back from a report.
    // X-Sluice-Peer is what peers sign (cluster/peer-facts.ts): never taken from a client.
    privateHeaders: [...(feedback ? ['x-sluice-class', 'x-sluice-fbl'] : ['x-sluice-class']), PEER_HEADER.toLowerCase()],
    ...(feedback ? { stamp: (envelope: Envelope) => feedback.stamp(envelope) } : {}),
    ...(p.maxSchedule ? { maxSchedule: p.maxSchedule } : {}),
    accept: async (envelope, message) => {
      // The envelope's JSON is small next to the body; 4 kB covers it and the record header.
      const release = disk.reserve(message.length + 4096);
      try {
        await p.spool.commit(envelope, message);
        release(true);
      } catch (err) {
        release(false);
        if (disk.failed(err)) throw new SluiceError('SPOOL_FULL', `spool full while writing ${envelope.id}`, { cause: err });
        throw err;
      }
      p.enqueue(envelope);
    },
    dropped: p.dropped,
  };
}

export interface ListenPorts {
  readonly log: Logger;
  readonly clock: Clock;
  readonly hostname: string;
  readonly baseDir: string;
  readonly dataDir: string;
  /** The config in force (AUTH limits follow reloads). */
  readonly config: () => Config;
  readonly plugins: PluginHost;
  readonly sink: AcceptSink;
  readonly disk: Pick<DiskGuard, 'low'>;
  readonly feedback: FeedbackSink | null;
  readonly metrics: Pick<Metrics, 'authFailure' | 'authRefused' | 'ingressRefused' | 'ingressStress' | 'acceptLatency'>;
  readonly failures: FailureLimitStore;
  /** `[cluster] secret` set: the transport that binds `mode = "cluster"` listeners, and where replicas go. */
  readonly cluster?: { readonly link: ClusterLink; readonly secret: string; readonly replicas?: ReplicaSink | undefined; readonly received: (kind: string, ok: boolean) => void } | undefined;
}

/** One listener per [[listen]], bound in order; each bound one's stop is pushed to `built`. */
export async function startListeners(config: Config, p: ListenPorts, built: (() => Promise<unknown> | void)[]): Promise<{ listeners: Listener[]; ports: number[] }> {
  const { log, clock, metrics: m } = p;
  const tls = await loadTls(config.tls, p.baseDir, p.dataDir, p.hostname);
  if (tls.generated) log.warn({ event: 'tls_self_signed', cert: tls.path }, 'no [tls] cert/key configured: using a self-signed certificate');
  const authLimiter = smtpAuthLimiter(p.failures, p.config, { failed: () => m.authFailure('smtp'), refused: () => m.authRefused('smtp') });
  const limitEvents = {
    refused: (listener: string, reason: string) => m.ingressRefused(listener, reason),
    stress: (listener: string, on: boolean) => m.ingressStress(listener, on),
  };
  const listeners: Listener[] = [];
  const ports: number[] = [];
  for (const listen of config.listen) {
    if (listen.mode === 'cluster') {
      const c = p.cluster;
      if (!c) throw new SluiceError('CONFIG_INVALID', 'a mode = "cluster" listener needs [cluster] secret');
      const cl = new ClusterListener({ listen, nodeId: config.node.id, hostname: p.hostname, secret: c.secret, tls, maxMessageSize: () => p.config().relay.max_message_size, clock, log, accept: (e, body) => p.sink.accept(e, body), replicas: c.replicas, received: c.received });
      ports.push(await c.link.bind(cl, listen).catch((err: unknown) => Promise.reject(listenError(err, listen.host, listen.port))));
      built.push(() => cl.stop(0));
      log.info({ event: 'listening', host: listen.host, port: ports[ports.length - 1], mode: listen.mode, advertise: c.link.advertise }, 'listening');
      continue;
    }
    const l = new Listener({ config, listen, hostname: p.hostname, tls, plugins: p.plugins, sink: p.sink, clock, log, authLimiter, admission: async () => (p.disk.low() ? replies.lowDisk : null), ...(p.feedback ? { feedback: p.feedback } : {}), postmasterDir: join(p.dataDir, 'postmaster'), onAccepted: (name, seconds) => m.acceptLatency(name, seconds), limitEvents });
    try {
      ports.push(await l.listen());
    } catch (err) {
      throw listenError(err, listen.host, listen.port);
    }
    built.push(() => l.stop(0));
    listeners.push(l);
    log.info({ event: 'listening', host: listen.host, port: ports[ports.length - 1], mode: listen.mode, tls: listen.tls }, 'listening');
  }
  return { listeners, ports };
}

export interface ClusterPorts {
  readonly cluster: NonNullable<Config['cluster']>;
  readonly config: () => Config;
  readonly state: ManagedState;
  readonly clock: Clock;
  readonly log: Logger;
  readonly info: { readonly id: string; readonly address: string; readonly startedAt: number; readonly version: string };
  readonly draining: () => boolean;
  /** Read at each heartbeat, once start() built them (null before). */
  readonly running: () => { readonly observer: Observer; readonly queue: { readonly depth: number; queueRows(): QueueRow[] }; readonly disk: DiskGuard | null; readonly sessionsIn: number } | null;
  readonly connections: ConnectionCounter;
  /** This node's cluster listener address for the registry (NodeInfo.cluster), once bound. */
  readonly advertise?: () => string | undefined;
  /** Called with the live set after each registry read (the cluster link's peer list). */
  readonly seen?: (live: readonly NodeInfo[]) => void;
  /** `[cluster] config = "redis"`: the version running and the newest refused, for the heartbeat (null: "file" mode). */
  readonly configRollout?: () => RolloutStatus | null;
}

/**
 * `[cluster]` parts: membership (heartbeat carrying this node's load and dashboard board,
 * live peers, failover after `failover_after`) and the log of limits falling back to this
 * node's share. Built before the parts that read the fleet; started by `start()`.
 */
export function buildCluster(p: ClusterPorts): { membership: Membership; start(): void; stop(): Promise<void> } {
  const { state } = p;
  const limitsWatch = new SharedLimitsWatch(state, p.log, () => p.clock.now(), () => (state instanceof ResilientState ? { fleet_size: state.fleetSize() } : {}));
  const load = new LoadMeter({
    cpuMicros: () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    },
    rssBytes: () => process.memoryUsage.rss(),
    nowMs: () => performance.now(),
    diskFreeBytes: () => p.running()?.disk?.estimate ?? null,
    connectionsIn: () => p.running()?.sessionsIn ?? 0,
    connectionsOut: () => p.connections.rows().reduce((n, r) => n + r.open, 0),
    queueDepth: () => p.running()?.queue.depth ?? 0,
    // Recipients delivered in the last minute, from the stats the dashboard reads.
    sendRate: () => (p.running()?.observer.stats.snapshot(60_000).totals.delivered ?? 0) / 60,
  });
  const membership = new Membership({
    self: p.info.id,
    registry: state.nodes,
    clock: p.clock,
    log: p.log,
    heartbeatMs: p.cluster.heartbeat,
    failoverAfterMs: p.cluster.failover_after,
    info: () => {
      const run = p.running();
      // The board carries this node's numbers to the fleet's dashboard (cluster/fleet-board.ts).
      const board = run ? makeBoard(run.observer.stats, run.queue.queueRows()) : undefined;
      const advertise = p.advertise?.();
      return { ...p.info, draining: p.draining(), load: load.sample(), ...(advertise ? { cluster: advertise } : {}), ...(board ? { board } : {}), ...configOf(p.configRollout?.() ?? null) };
    },
    ...(p.seen ? { seen: p.seen } : {}),
    expected: () => Object.values(p.config().sources).flatMap((s) => (s.node === undefined ? [] : [s.node])),
    healthy: () => state.healthy() && !state.degraded(),
  });
  return {
    membership,
    start: () => {
      limitsWatch.start();
      load.start();
      membership.start();
    },
    stop: async () => {
      limitsWatch.stop();
      await membership.stop();
      load.stop();
    },
  };
}

/** What the heartbeat says of the config rollout: every node's status and dashboard show every node's version. */
function configOf(r: RolloutStatus | null): Pick<NodeInfo, 'configVersion' | 'configFailed'> {
  if (r === null) return {};
  return { configVersion: r.version, ...(r.failed ? { configFailed: r.failed.version } : {}) };
}
