import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadtestOptions } from './cli-args.js';
import { AcceptLog, LoadClient } from './client/load-client.js';
import { MessagePlan, recipientDomains, type Destination } from './client/message.js';
import type { Clock } from './clock.js';
import { LoadtestError } from './errors.js';
import { Progress, type ProgressOutput, type ProgressSnapshot } from './progress.js';
import { buildReport, type DrainEnd, type ProviderInput, type Report, type RunMode } from './report/build-report.js';
import { drain, startDns, startGateway, startSimulators, type Simulators } from './run-stages.js';
import { DeliveryLog } from './sim/delivery-log.js';
import { ConnectionTracker } from './sim/peer-stats.js';
import { loadProfiles, type Profile } from './sim/profile.js';
import type { ProviderSim } from './sim/provider-sim.js';
import { writeDkimKey } from './setup/dkim-key.js';
import { waitForPort } from './setup/free-port.js';
import type { GatewayProcess } from './setup/gateway-process.js';
import { configuredLimits } from './setup/sluice-config.js';
import type { Teardown } from './setup/teardown.js';
import { LOCAL_HOST, mxSuffix } from './setup/topology.js';

export interface RunEnv {
  readonly projectRoot: string | null;
  readonly node: string; // the node binary that starts the gateway
  readonly stderr: ProgressOutput;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly teardown: Teardown; // the caller runs it, also on Ctrl-C and on errors
}

/** With --target the operator configures the gateway, so these ports are fixed (--dns-port, --sink-port). */
export const TARGET_DNS_PORT = 10053;
export const TARGET_SINK_PORT = 10025;

export async function runLoadtest(opts: LoadtestOptions, env: RunEnv): Promise<{ report: Report; latencies: Float64Array }> {
  return new LoadtestRun(opts, env).run();
}

/** One run: set up (simulators, DNS, gateway), send, drain, report. Stopping is the teardown's. */
class LoadtestRun {
  private readonly mode: RunMode;
  private readonly runId = `${Date.now().toString(36).slice(-5)}${randomBytes(2).toString('hex')}`;
  private readonly startedAt = new Date();
  private readonly providerNames: string[];
  private readonly log: DeliveryLog;
  private readonly dsnLog: DeliveryLog;
  private readonly accept: AcceptLog;
  private readonly sourceTracker = new ConnectionTracker();
  /** Where the gateway this run started listens (the report's header names it). */
  private gatewayAddress: string | null = null;
  private readonly progress: Progress;
  private readonly warnings: string[] = [];
  private phase = 'setup';
  private workDir = '';
  private keepWorkDir: boolean;
  private gateway: GatewayProcess | null = null;
  private dnsAddress: string | null = null;

  constructor(
    private readonly opts: LoadtestOptions,
    private readonly env: RunEnv,
  ) {
    this.mode = opts.sinkOnly ? 'sink-only' : opts.target ? 'target' : 'gateway';
    this.providerNames = opts.sinkOnly ? ['sink'] : [...opts.providers];
    this.log = new DeliveryLog(this.runId, opts.messages);
    this.dsnLog = new DeliveryLog(this.runId, 0);
    this.accept = new AcceptLog(opts.messages);
    this.keepWorkDir = opts.keep;
    this.progress = new Progress(env.stderr, () => this.snapshot());
  }

  async run(): Promise<{ report: Report; latencies: Float64Array }> {
    const cli = this.opts.gatewayCli ?? path.join(this.root(), 'dist', 'gateway', 'cli', 'main.js');
    if (this.mode === 'gateway' && !existsSync(cli)) {
      throw new LoadtestError('GATEWAY_FAILED', `no gateway at ${cli}: build the project first (npm run build), or pass --target host:port`);
    }
    const profileDir = this.opts.profileDir ?? path.join(this.root(), 'loadtest', 'profiles');
    const profiles = await loadProfiles(profileDir, this.providerNames);
    const sinkProfile = this.mode === 'sink-only' ? null : ((await loadProfiles(profileDir, ['sink']))[0] ?? null);
    this.workDir = await mkdtemp(path.join(tmpdir(), 'sluice-loadtest-'));
    const workDir = this.workDir;
    this.env.teardown.add('work dir', async () => {
      if (!this.keepWorkDir) await rm(workDir, { recursive: true, force: true });
    });
    const sims = await startSimulators({
      profiles, sinkProfile, port: this.opts.sinkPort ?? (this.mode === 'target' ? TARGET_SINK_PORT : null),
      log: this.log, dsnLog: this.dsnLog, sourceTracker: this.sourceTracker, clock: this.env.clock, teardown: this.env.teardown,
    });
    this.say(`simulators ${sims.sims.map((s) => `${s.provider} ${s.host}`).join(', ')} on port ${sims.port}`);
    const domains = recipientDomains(this.opts.domains, this.providerNames);
    const target = await this.startTarget(profiles, sims, domains, cli);
    const drained = await this.sendAndDrain(target, domains, sims);
    return this.report(sims, drained);
  }

  /** DNS and, unless --target or --sink-only, the gateway; returns where the client sends. */
  private async startTarget(profiles: readonly Profile[], sims: Simulators, domains: readonly Destination[], cli: string): Promise<{ host: string; port: number }> {
    const { opts, env, mode } = this;
    if (opts.dkim !== 'none' && mode !== 'gateway') this.warnings.push(`--dkim ${opts.dkim} only applies when the load test starts the gateway`);
    if (mode === 'sink-only') return { host: sims.sims[0]?.host ?? LOCAL_HOST, port: sims.port };
    const dkim = mode === 'gateway' && opts.dkim !== 'none' ? await writeDkimKey(this.workDir, opts.dkim) : null;
    const dnsPort = opts.dnsPort ?? (mode === 'target' ? TARGET_DNS_PORT : null);
    const dns = await startDns({ domains, sims: sims.sims, dkim, port: dnsPort, teardown: env.teardown });
    this.dnsAddress = dns.address;
    this.say(`DNS ${dns.address}: MX for ${domains.length} domains`);
    if (opts.target) {
      this.say(targetHint(dns.address, sims, profiles));
      if (!(await waitForPort(opts.target.host, opts.target.port, 5000, () => env.signal.aborted))) {
        throw new LoadtestError('GATEWAY_FAILED', `nothing listens at --target ${opts.target.host}:${opts.target.port}`);
      }
      return opts.target;
    }
    try {
      const started = await startGateway({ opts, cli, node: env.node, workDir: this.workDir, profiles, dns, simPort: sims.port, dkim, clock: env.clock, signal: env.signal, teardown: env.teardown });
      this.gateway = started.gateway;
      this.gatewayAddress = `${LOCAL_HOST}:${started.port}`;
      this.say(`gateway pid ${started.gateway.pid} listening on ${LOCAL_HOST}:${started.port} (config ${started.configFile})`);
      return { host: LOCAL_HOST, port: started.port };
    } catch (err) {
      // its log and config are what the operator needs now
      if (!(err instanceof LoadtestError && err.code === 'INTERRUPTED')) this.keepWorkDir = true;
      throw err;
    }
  }

  private async sendAndDrain(target: { host: string; port: number }, domains: readonly Destination[], sims: Simulators): Promise<{ end: DrainEnd; waited_s: number }> {
    const { opts, env } = this;
    const plan = new MessagePlan({ runId: this.runId, size: opts.size, domains, unknownShare: opts.unknownShare });
    const client = new LoadClient({ ...target, connections: opts.connections, plan, clock: env.clock, signal: env.signal }, this.accept);
    if (env.signal.aborted) throw new LoadtestError('INTERRUPTED', 'interrupted');
    this.progress.start();
    try {
      this.phase = 'sending';
      await client.run();
      this.phase = 'draining';
      const activity = (): number => this.log.arrivals.length + sims.sims.reduce((n, s) => n + totalRefusals(s), 0);
      const drained = await drain({ opts, accept: this.accept, log: this.log, gateway: this.gateway, signal: env.signal, clock: env.clock, activity });
      if (drained.end === 'interrupted') throw new LoadtestError('INTERRUPTED', 'interrupted');
      if (drained.end === 'gateway-exited') {
        this.keepWorkDir = true;
        this.warnings.push(`the gateway ${this.gateway?.describeExit() ?? 'exited'} during the run; see ${this.workDir}/gateway.log`);
      }
      if (this.accept.accepted === 0) this.warnings.push(`no message was accepted: ${this.accept.samples.join(' | ') || 'no reply'}`);
      return drained;
    } finally {
      this.progress.stop();
    }
  }

  private report(sims: Simulators, drained: { end: DrainEnd; waited_s: number }): { report: Report; latencies: Float64Array } {
    const { opts, mode } = this;
    const usage = this.gateway && !this.gateway.exited ? this.gateway.usage() : null;
    return buildReport({
      runId: this.runId, mode, startedAt: this.startedAt,
      settings: {
        connections: opts.connections, size_bytes: opts.size, domains: opts.domains, dkim: mode === 'gateway' ? opts.dkim : 'none',
        profiles: this.providerNames, source_count: opts.sources, target: opts.target ? `${opts.target.host}:${opts.target.port}` : this.gatewayAddress,
        unknown_share: opts.unknownShare,
      },
      accept: this.accept, deliveries: this.log, dsnReceived: this.dsnLog.arrivals.length,
      providers: sims.sims.map((s) => providerInput(s, mode)),
      sourcePeers: this.sourceTracker.snapshot(),
      gateway: usage,
      gatewayRss: usage && this.gateway ? this.gateway.sampler.rssSeries : [],
      drain: drained,
      endpoints: { dns: this.dnsAddress, sink_port: sims.port, work_dir: this.keepWorkDir ? this.workDir : null },
      warnings: this.warnings,
    });
  }

  private snapshot(): ProgressSnapshot {
    return { phase: this.phase, messages: this.opts.messages, accepted: this.accept.accepted, delivered: this.log.delivered };
  }

  private say(s: string): void {
    this.progress.say(`loadtest: ${s}`);
  }

  private root(): string {
    if (!this.env.projectRoot) {
      throw new LoadtestError('SETUP_FAILED', 'cannot find the Sluice project (a package.json named "sluice") above this script or the current directory; pass --profile-dir and --gateway-cli');
    }
    return this.env.projectRoot;
  }
}

function totalRefusals(sim: ProviderSim): number {
  return Object.values(sim.policy.refusals).reduce((a, b) => a + b, 0);
}

function providerInput(sim: ProviderSim, mode: RunMode): ProviderInput {
  const p: Profile = sim.profile;
  return {
    provider: sim.provider,
    peers: sim.tracker.snapshot(),
    peakTotal: sim.tracker.peakTotal(),
    sessions: sim.sessions,
    tlsSessions: sim.tlsSessions,
    refusals: sim.policy.refusals,
    configured: mode === 'gateway' ? configuredLimits(p) : null,
    profileMaxConnections: p.connections.max_per_ip,
    profileMaxRate: p.rate.max_per_ip,
  };
}

/** What the operator of a --target gateway must point it at. */
function targetHint(dns: string, sims: Simulators, profiles: readonly Profile[]): string {
  const lines = ['configure the gateway under test with:', '  [dns]', `  servers = ["${dns}"]`, '  [delivery]', `  port = ${sims.port}`];
  for (const p of profiles) {
    if (!p.sluice.declare) continue;
    lines.push(`  [providers.${p.name}]`, `  mx_suffixes = ["${mxSuffix(p.name)}"]`);
    lines.push(`  max_connections = ${p.sluice.max_connections}`, `  max_message_rate = "${p.sluice.max_message_rate}"`);
  }
  return lines.join('\n');
}
