import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadtestOptions } from './cli-args.js';
import { AcceptLog, LoadClient } from './client/load-client.js';
import { MessagePlan, recipientDomains } from './client/message.js';
import type { Clock } from './clock.js';
import { LoadtestError } from './errors.js';
import { Progress, type ProgressOutput } from './progress.js';
import { buildReport, type ProviderInput, type Report, type RunMode } from './report/build-report.js';
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
  const mode: RunMode = opts.sinkOnly ? 'sink-only' : opts.target ? 'target' : 'gateway';
  const runId = `${Date.now().toString(36).slice(-5)}${randomBytes(2).toString('hex')}`;
  const startedAt = new Date();
  const progress = new Progress(env.stderr, () => snapshot);
  const say = (s: string): void => progress.say(`loadtest: ${s}`);
  const profileDir = opts.profileDir ?? path.join(requireRoot(env), 'loadtest', 'profiles');
  const providerNames = opts.sinkOnly ? ['sink'] : [...opts.providers];
  const profiles = await loadProfiles(profileDir, providerNames);
  const sinkProfile = mode === 'sink-only' ? null : (await loadProfiles(profileDir, ['sink']))[0] ?? null;

  const workDir = await mkdtemp(path.join(tmpdir(), 'sluice-loadtest-'));
  let keepWorkDir = opts.keep;
  env.teardown.add('work dir', async () => {
    if (!keepWorkDir) await rm(workDir, { recursive: true, force: true });
  });
  const log = new DeliveryLog(runId, opts.messages);
  const dsnLog = new DeliveryLog(runId, 0);
  const accept = new AcceptLog(opts.messages);
  const sourceTracker = new ConnectionTracker();
  let snapshot = { phase: 'setup', messages: opts.messages, accepted: 0, delivered: 0 };
  const warnings: string[] = [];

  const sims = await startSimulators({
    profiles, sinkProfile, port: opts.sinkPort ?? (mode === 'target' ? TARGET_SINK_PORT : null),
    log, dsnLog, sourceTracker, clock: env.clock, teardown: env.teardown,
  });
  say(`simulators ${sims.sims.map((s) => `${s.provider} ${s.host}`).join(', ')} on port ${sims.port}`);
  const domains = recipientDomains(opts.domains, providerNames);
  let gateway: GatewayProcess | null = null;
  let dnsAddress: string | null = null;
  let clientTarget = { host: sims.sims[0]?.host ?? LOCAL_HOST, port: sims.port };
  if (opts.dkim !== 'none' && mode !== 'gateway') warnings.push(`--dkim ${opts.dkim} only applies when the load test starts the gateway`);
  if (mode !== 'sink-only') {
    const dkim = mode === 'gateway' && opts.dkim !== 'none' ? await writeDkimKey(workDir, opts.dkim) : null;
    const dns = await startDns({ domains, sims: sims.sims, dkim, port: opts.dnsPort ?? (mode === 'target' ? TARGET_DNS_PORT : null), teardown: env.teardown });
    dnsAddress = dns.address;
    say(`DNS ${dns.address}: MX for ${domains.length} domains`);
    if (mode === 'gateway') {
      const cli = opts.gatewayCli ?? path.join(requireRoot(env), 'dist', 'gateway', 'cli', 'main.js');
      try {
        const started = await startGateway({ opts, cli, node: env.node, workDir, profiles, dns, simPort: sims.port, dkim, clock: env.clock, teardown: env.teardown });
        gateway = started.gateway;
        clientTarget = { host: LOCAL_HOST, port: started.port };
        say(`gateway pid ${gateway.pid} listening on ${LOCAL_HOST}:${started.port} (config ${started.configFile})`);
      } catch (err) {
        keepWorkDir = true; // its log and config are what the operator needs now
        throw err;
      }
    } else if (opts.target) {
      say(targetHint(dns.address, sims, profiles));
      clientTarget = opts.target;
      if (!(await waitForPort(opts.target.host, opts.target.port, 5000, () => env.signal.aborted))) {
        throw new LoadtestError('GATEWAY_FAILED', `nothing listens at --target ${opts.target.host}:${opts.target.port}`);
      }
    }
  }

  const plan = new MessagePlan({ runId, size: opts.size, domains, unknownShare: opts.unknownShare });
  const client = new LoadClient({ ...clientTarget, connections: opts.connections, plan, clock: env.clock, signal: env.signal }, accept);
  const refresh = (phase: string): void => {
    snapshot = { phase, messages: opts.messages, accepted: accept.accepted, delivered: log.delivered };
  };
  const ticker = setInterval(() => refresh(snapshot.phase), 100);
  progress.start();
  try {
    refresh('sending');
    await client.run();
    refresh('draining');
    const activity = (): number => log.arrivals.length + sims.sims.reduce((n, s) => n + totalRefusals(s), 0);
    const drained = await drain({ opts, accept, log, gateway, signal: env.signal, clock: env.clock, activity });
    if (drained.end === 'interrupted') throw new LoadtestError('INTERRUPTED', 'interrupted');
    if (drained.end === 'gateway-exited') warnings.push(`the gateway ${gateway?.describeExit() ?? 'exited'} during the run; see ${workDir}/gateway.log`);
    if (drained.end === 'gateway-exited') keepWorkDir = true;
    if (accept.accepted === 0) warnings.push(`no message was accepted: ${accept.samples.join(' | ') || 'no reply'}`);
    const usage = gateway && !gateway.exited ? gateway.usage() : null;
    return buildReport({
      runId, mode, startedAt,
      settings: {
        connections: opts.connections, size_bytes: opts.size, domains: opts.domains, dkim: mode === 'gateway' ? opts.dkim : 'none',
        profiles: providerNames, source_count: opts.sources, target: opts.target ? `${opts.target.host}:${opts.target.port}` : null,
        unknown_share: opts.unknownShare,
      },
      accept, deliveries: log, dsnReceived: dsnLog.arrivals.length,
      providers: sims.sims.map((s) => providerInput(s, mode)),
      sourcePeers: sourceTracker.snapshot(),
      gateway: usage,
      drain: drained,
      endpoints: { dns: dnsAddress, sink_port: sims.port, work_dir: keepWorkDir ? workDir : null },
      warnings,
    });
  } finally {
    clearInterval(ticker);
    progress.stop();
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
    refusals: sim.policy.refusals,
    configured: mode === 'gateway' ? configuredLimits(p) : null,
    profileMaxConnections: p.connections.max_per_ip,
    profileMaxRate: p.rate.max_per_ip,
  };
}

/** What the operator of a --target gateway must point it at. */
function targetHint(dns: string, sims: Simulators, profiles: readonly Profile[]): string {
  const lines = [
    `configure the gateway under test with:`,
    `  [dns]`,
    `  servers = ["${dns}"]`,
    `  [delivery]`,
    `  port = ${sims.port}`,
  ];
  for (const p of profiles) {
    if (!p.sluice.declare) continue;
    lines.push(`  [providers.${p.name}]`, `  mx_suffixes = ["${mxSuffix(p.name)}"]`);
    lines.push(`  max_connections = ${p.sluice.max_connections}`, `  max_message_rate = "${p.sluice.max_message_rate}"`);
  }
  return lines.join('\n');
}

function requireRoot(env: RunEnv): string {
  if (!env.projectRoot) {
    throw new LoadtestError('SETUP_FAILED', 'cannot find the Sluice project (a package.json named "sluice") above this script or the current directory; pass --profile-dir and --gateway-cli');
  }
  return env.projectRoot;
}
