/**
 * The composition root: builds every module from the config and wires them together.
 * The only place (with the CLI) that picks implementations and touches process state.
 */
import { hostname as osHostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import type { LoadedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { systemClock, type Clock, type StateBackend } from './state/types.js';
import { createState } from './state/create.js';
import { DiskSpool } from './spool/disk-spool.js';
import type { Envelope } from './spool/types.js';
import { PluginHost } from './plugin-host/host.js';
import { MxResolver } from './delivery/mx-resolver.js';
import { ProviderTable } from './shaping/providers.js';
import { Router } from './routing/router.js';
import { HoldCache } from './shaping/hold-cache.js';
import { WarmupGate } from './shaping/warmup-gate.js';
import { SourcePicker } from './routing/source-picker.js';
import { Scheduler } from './queue/scheduler.js';
import { createSessionRunner } from './queue/session-runner.js';
import { Listener } from './ingress/listener.js';
import { AuthLimiter } from './ingress/auth-limiter.js';
import { loadTls } from './ingress/tls.js';
import { replies } from './ingress/replies.js';
import type { AcceptSink } from './ingress/transaction.js';
import { createLogger, type Logger } from './observe/logger.js';
import { OutcomeRouter } from './outcomes.js';
import { SluiceError } from './errors.js';

export interface NodeOptions {
  readonly loaded: LoadedConfig;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export class SluiceNode {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  readonly hostname: string;
  readonly dataDir: string;
  readonly registry = new Registry();
  state!: StateBackend;
  spool!: DiskSpool;
  plugins!: PluginHost;
  scheduler!: Scheduler;
  holds!: HoldCache;
  warmup!: WarmupGate;
  picker!: SourcePicker;
  listeners: Listener[] = [];
  /** Ports actually bound, in [[listen]] order (0 in the config means "any free port"). */
  ports: number[] = [];
  private lowDisk = false;
  private diskTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: NodeOptions) {
    this.config = opts.loaded.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger(this.config.node.id);
    this.hostname = this.config.node.hostname ?? osHostname();
    const d = this.config.node.data_dir;
    this.dataDir = isAbsolute(d) ? d : resolve(opts.loaded.baseDir, d);
  }

  async start(): Promise<void> {
    const { config, log, clock } = this;
    await mkdir(this.dataDir, { recursive: true });
    this.state = await createState({ dataDir: join(this.dataDir, 'state'), clock, ...(config.cluster ? { redisUrl: config.cluster.redis_url, redisPrefix: config.cluster.key_prefix, commandTimeoutMs: config.cluster.command_timeout } : {}) });
    this.spool = await DiskSpool.open(join(this.dataDir, 'spool'));
    this.plugins = await PluginHost.load({
      order: pluginOrder(config),
      timeoutMs: config.plugins.timeout,
      tables: { dkim: config.dkim, classify: config.classify, suppression: config.suppression, ...this.opts.loaded.pluginTables },
      configFile: this.opts.loaded.files[0]?.path ?? '',
      baseDir: this.opts.loaded.baseDir,
      state: this.state,
      metrics: this.registry,
      logger: (name) => log.child({ plugin: name }),
    });
    const resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock });
    const providers = new ProviderTable(config);
    const router = new Router(config);
    this.holds = new HoldCache(this.state, clock, (err) => log.warn({ err }, 'hold refresh failed'));
    await this.holds.start();
    this.warmup = new WarmupGate(config, this.state, clock);
    this.picker = new SourcePicker(config, this.state, this.holds, this.warmup, config.node.id, this.hostname);
    const outcomes = new OutcomeRouter({ node: this, log });
    const suppressionOn = pluginOrder(config).includes('suppression');
    const runner = createSessionRunner({
      config,
      spool: this.spool,
      state: this.state,
      picker: this.picker,
      warmup: this.warmup,
      holds: this.holds,
      clock,
      log,
      ...(suppressionOn ? { recipientFilter: async (rcpt: string) => (await this.state.suppression.check(rcpt)) === null } : {}),
      onWarmupExhausted: (source) => log.warn({ event: 'warmup_exhausted', source }, 'warm-up cap reached for today'),
    });
    this.scheduler = new Scheduler({ config, spool: this.spool, resolver, providers, router, clock, log, onOutcome: (o) => outcomes.handle(o), runSession: runner, beforeRemove: (e) => outcomes.beforeRemove(e) });

    const recovered = await this.spool.recover((file, reason) => log.error({ event: 'spool_quarantined', file, reason }, 'corrupt spool entry moved to quarantine'));
    for (const m of recovered) this.scheduler.add(m.envelope, m.done, m.attempts);
    if (recovered.length > 0) log.info({ event: 'spool_recovered', messages: recovered.length }, 'queued messages recovered from spool');

    await this.checkDisk();
    this.diskTimer = setInterval(() => void this.checkDisk(), 5_000);
    this.diskTimer.unref();

    const tls = await loadTls(config.tls, this.opts.loaded.baseDir, this.dataDir, this.hostname);
    if (tls.generated) log.warn({ event: 'tls_self_signed', cert: tls.path }, 'no [tls] cert/key configured: using a self-signed certificate');
    const sink: AcceptSink = {
      routeHeaders: router.headerNames(),
      privateHeaders: ['x-sluice-class'],
      accept: async (envelope, message) => {
        await this.spool.commit(envelope, message);
        this.scheduler.add(envelope);
      },
      dropped: (envelope, rcpts, reason) => outcomes.dropped(envelope, rcpts, reason),
    };
    const authLimiter = new AuthLimiter(config.relay.auth_failure_limit, config.relay.auth_failure_window, clock);
    for (const listen of config.listen) {
      const l = new Listener({ config, listen, hostname: this.hostname, tls, plugins: this.plugins, sink, clock, log, authLimiter, admission: async () => (this.lowDisk ? replies.lowDisk : null) });
      try {
        this.ports.push(await l.listen());
      } catch (err) {
        throw listenError(err, listen.host, listen.port);
      }
      this.listeners.push(l);
      log.info({ event: 'listening', host: listen.host, port: this.ports[this.ports.length - 1], mode: listen.mode, tls: listen.tls }, 'listening');
    }
  }

  /** Accepts a message generated here (a DSN) exactly as if it came in over SMTP. */
  async inject(envelope: Envelope, message: Buffer): Promise<void> {
    await this.spool.commit(envelope, message);
    this.scheduler.add(envelope);
  }

  private async checkDisk(): Promise<void> {
    try {
      const free = await this.spool.freeBytes();
      const low = free < this.config.node.min_free_disk;
      if (low !== this.lowDisk) this.log.warn({ event: low ? 'disk_low' : 'disk_ok', free_bytes: free }, low ? 'low disk: refusing new mail with 452 4.3.1' : 'disk space back');
      this.lowDisk = low;
    } catch (err) {
      this.log.warn({ err }, 'cannot read free disk space');
    }
  }

  /** SIGTERM: stop accepting (421 4.3.2), finish transactions and deliveries, then close. */
  async stop(): Promise<void> {
    const timeout = this.config.node.drain_timeout;
    this.log.info({ event: 'stopping', drain_timeout_ms: timeout }, 'stopping');
    if (this.diskTimer) clearInterval(this.diskTimer);
    await Promise.all(this.listeners.map((l) => l.stop(timeout)));
    await this.scheduler?.stop(timeout);
    this.holds?.stop();
    await this.spool?.close();
    await this.state?.close();
    this.log.info({ event: 'stopped', queued: this.scheduler?.depth ?? 0 }, 'stopped; queued mail stays in the spool');
  }
}

/**
 * Wiring (shaping issue): with no `[plugins] order`, the built-ins whose table is written
 * ([suppression], [classify], [dkim]) run in DESIGN.md's order, so a config with
 * `[[classify.rules]]` classifies without also listing the plugin.
 */
function pluginOrder(config: Config): readonly string[] {
  if (config.plugins.order.length > 0) return config.plugins.order;
  return (['suppression', 'classify', 'dkim'] as const).filter((name) => config[name] !== undefined);
}

function listenError(err: unknown, host: string, port: number): SluiceError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES') {
    return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, or "sudo setcap cap_net_bind_service=+ep $(command -v node)", or use ports above 1024 in [[listen]]`, { cause: err });
  }
  if (code === 'EADDRINUSE') return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: the port is in use by another process (find it with "ss -ltnp 'sport = :${port}'") — stop it or change [[listen]] port`, { cause: err });
  if (code === 'EADDRNOTAVAIL') return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: ${host} is not an address of this machine — fix [[listen]] host`, { cause: err });
  return new SluiceError('LISTEN_FAILED', `cannot bind ${host}:${port}: ${(err as Error).message}`, { cause: err });
}
