import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LoadtestOptions } from './cli-args.js';
import type { Destination } from './client/message.js';
import type { Clock } from './clock.js';
import { SEQ, type AcceptLog } from './client/load-client.js';
import type { DrainEnd } from './report/build-report.js';
import type { DeliveryLog } from './sim/delivery-log.js';
import type { ConnectionTracker } from './sim/peer-stats.js';
import type { Profile } from './sim/profile.js';
import { ProviderSim } from './sim/provider-sim.js';
import type { DkimKey } from './setup/dkim-key.js';
import { LoadtestDns } from './setup/dns-server.js';
import { freePortOnAll, freeTcpPort } from './setup/free-port.js';
import { GatewayProcess } from './setup/gateway-process.js';
import { sluiceConfigToml } from './setup/sluice-config.js';
import type { Teardown } from './setup/teardown.js';
import { DSN_HOST, LOCAL_HOST, buildZone, simIp, sourceIp } from './setup/topology.js';

/** The steps of a run that start something; each registers its stop with the teardown. */

export interface Simulators {
  readonly sims: ProviderSim[];
  readonly dsn: ProviderSim | null;
  readonly port: number;
}

export async function startSimulators(args: {
  readonly profiles: readonly Profile[];
  readonly sinkProfile: Profile | null; // plays the bounce catcher; null: none (--sink-only)
  readonly port: number | null; // null: any free port
  readonly log: DeliveryLog;
  readonly dsnLog: DeliveryLog;
  readonly sourceTracker: ConnectionTracker;
  readonly clock: Clock;
  readonly teardown: Teardown;
}): Promise<Simulators> {
  const hosts = args.profiles.map((_, i) => simIp(i));
  const port = args.port ?? (await freePortOnAll(args.sinkProfile ? [...hosts, DSN_HOST] : hosts));
  const sims: ProviderSim[] = [];
  for (const [i, profile] of args.profiles.entries()) {
    const sim = await ProviderSim.start({
      profile,
      host: hosts[i] ?? LOCAL_HOST,
      port,
      log: args.log,
      clock: args.clock,
      sharedTrackers: [args.sourceTracker],
    });
    args.teardown.add(`simulator ${profile.name}`, () => sim.stop());
    sims.push(sim);
  }
  let dsn: ProviderSim | null = null;
  if (args.sinkProfile) {
    const sim = await ProviderSim.start({ profile: args.sinkProfile, provider: 'bounces', host: DSN_HOST, port, log: args.dsnLog, clock: args.clock });
    args.teardown.add('bounce catcher', () => sim.stop());
    dsn = sim;
  }
  return { sims, dsn, port };
}

export async function startDns(args: {
  readonly domains: readonly Destination[];
  readonly sims: readonly ProviderSim[];
  readonly dkim: DkimKey | null;
  readonly port: number | null;
  readonly teardown: Teardown;
}): Promise<LoadtestDns> {
  const zone = buildZone({
    domains: args.domains,
    simHosts: new Map(args.sims.map((s) => [s.provider, s.host])),
    dkim: args.dkim ? { name: args.dkim.dnsName, txt: args.dkim.txt } : undefined,
  });
  const port = args.port ?? (await freePortOnAll([LOCAL_HOST], true));
  const dns = await LoadtestDns.start(zone, LOCAL_HOST, port);
  args.teardown.add('DNS server', () => dns.stop());
  return dns;
}

export async function startGateway(args: {
  readonly opts: LoadtestOptions;
  readonly cli: string;
  readonly node: string;
  readonly workDir: string;
  readonly profiles: readonly Profile[];
  readonly dns: LoadtestDns;
  readonly simPort: number;
  readonly dkim: DkimKey | null;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly teardown: Teardown;
}): Promise<{ gateway: GatewayProcess; port: number; configFile: string }> {
  const port = args.opts.listenPort ?? (await freeTcpPort(LOCAL_HOST));
  const sources = Array.from({ length: args.opts.sources }, (_, i) => ({ name: `lt${i + 1}`, ip: sourceIp(i, args.opts.sourceBase), ehlo: `lt${i + 1}.loadtest.test` }));
  const configFile = path.join(args.workDir, 'sluice.toml');
  const toml = sluiceConfigToml({
    nodeId: 'loadtest',
    dataDir: path.join(args.workDir, 'data'),
    listenHost: LOCAL_HOST,
    listenPort: port,
    dnsAddress: args.dns.address,
    deliveryPort: args.simPort,
    sources,
    dkim: args.dkim,
    profiles: args.profiles,
  });
  await writeFile(configFile, toml);
  const gateway = GatewayProcess.spawn({
    node: args.node,
    cli: args.cli,
    configFile,
    logFile: path.join(args.workDir, 'gateway.log'),
    host: LOCAL_HOST,
    port,
    startTimeoutMs: args.opts.startTimeoutMs,
    now: args.clock,
    signal: args.signal,
  });
  args.teardown.add('gateway', () => gateway.stop(), () => gateway.killNow());
  await gateway.untilListening();
  return { gateway, port, configFile };
}

/**
 * Waits until every accepted message arrived or was refused for good by a provider; else
 * until at least `drainTimeoutMs` after the last accept with no progress for `stallMs`, or
 * `maxDrainMs` in all. Progress is anything the providers saw happen (`activity`: arrivals
 * and refusals), so a gateway working through greylisting or a slow provider is not cut off.
 */
export async function drain(args: {
  readonly opts: LoadtestOptions;
  readonly accept: AcceptLog;
  readonly log: DeliveryLog;
  readonly gateway: GatewayProcess | null;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly activity: () => number;
}): Promise<{ end: DrainEnd; waited_s: number }> {
  const { opts, accept, log, clock } = args;
  const start = clock();
  const lastAccept = Number.isNaN(accept.lastAcceptAt) ? start : accept.lastAcceptAt;
  let progress = -1;
  let lastProgressAt = start;
  for (;;) {
    const now = clock();
    const seen = args.activity();
    if (seen !== progress) {
      progress = seen;
      lastProgressAt = now;
    }
    const end: DrainEnd | null =
      args.signal.aborted ? 'interrupted'
      : settled(accept, log) >= accept.accepted ? 'complete'
      : args.gateway?.exited ? 'gateway-exited'
      : now - lastAccept >= opts.drainTimeoutMs && now - lastProgressAt >= opts.stallMs ? 'stalled'
      : now - start >= opts.maxDrainMs ? 'max-wait'
      : null;
    if (end) return { end, waited_s: (now - start) / 1000 };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Accepted messages that reached an end at the providers: delivered or refused for good. */
function settled(accept: AcceptLog, log: DeliveryLog): number {
  let n = 0;
  for (let seq = 0; seq < accept.messages; seq++) {
    if (accept.state[seq] === SEQ.accepted && (log.wasDelivered(seq) || log.wasRefusedHard(seq))) n++;
  }
  return n;
}
