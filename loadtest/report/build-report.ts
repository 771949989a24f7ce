import { SEQ, type AcceptLog } from '../client/load-client.js';
import type { Arrival, DeliveryLog } from '../sim/delivery-log.js';
import type { PeerSnapshot } from '../sim/peer-stats.js';
import type { RefusalReason } from '../sim/policy.js';
import type { ConfiguredLimits } from '../setup/sluice-config.js';
import { chooseBucketMs, maxWindowCount, mean, percentile, rateSeries, round, sortedCopy } from './stats.js';

export type RunMode = 'gateway' | 'target' | 'sink-only';
export type DrainEnd = 'complete' | 'stalled' | 'max-wait' | 'gateway-exited' | 'interrupted' | 'none';

/** What one simulated provider saw, and the limits it is judged against. */
export interface ProviderInput {
  readonly provider: string;
  readonly peers: ReadonlyMap<string, PeerSnapshot>;
  readonly peakTotal: number; // connections open at once from all IPs
  readonly sessions: number; // sessions that reached MAIL FROM
  readonly tlsSessions: number; // … over STARTTLS
  readonly refusals: Readonly<Record<RefusalReason, number>>;
  readonly configured: ConfiguredLimits | null; // null: no config of ours (--target, --sink-only)
  readonly profileMaxConnections: number; // 0: none
  readonly profileMaxRate: number; // 0: none
}

export interface ReportInput {
  readonly runId: string;
  readonly mode: RunMode;
  readonly startedAt: Date;
  readonly settings: {
    readonly connections: number;
    readonly size_bytes: number;
    readonly domains: number;
    readonly dkim: string;
    readonly profiles: readonly string[];
    readonly source_count: number;
    readonly target: string | null;
    readonly unknown_share: number;
  };
  readonly accept: AcceptLog;
  readonly deliveries: DeliveryLog;
  readonly dsnReceived: number;
  readonly providers: readonly ProviderInput[];
  readonly sourcePeers: ReadonlyMap<string, PeerSnapshot>;
  readonly gateway: { readonly cpu_s: number; readonly rss_peak_mb: number } | null;
  /** the node's RSS samples (every 200 ms), for the chart; empty when not measured */
  readonly gatewayRss: readonly { readonly t: number; readonly mb: number }[];
  readonly drain: { readonly end: DrainEnd; readonly waited_s: number };
  readonly endpoints: { readonly dns: string | null; readonly sink_port: number; readonly work_dir: string | null };
  readonly warnings: readonly string[];
}

export interface ProviderReport {
  delivered: number;
  peak_connections: number; // the most from one source IP at once (the limits are per IP)
  peak_connections_total: number;
  limit_connections: number | null;
  max_1s_rate: number; // the most from one source IP in any second
  max_1s_rate_total: number;
  limit_rate: number | null;
  limits_from: 'config' | 'profile' | null;
  provider_max_connections: number | null;
  provider_max_rate: number | null;
  within_limits: boolean | null;
  refusals: Record<string, number>;
  sessions: number;
  tls_sessions: number;
  sources: Record<string, { peak_connections: number; connections_opened: number; max_1s_rate: number; delivered: number }>;
}

export interface SourceReport {
  peak_connections: number;
  connections_opened: number;
  max_1s_rate: number;
  delivered: number;
  ehlo: string[];
}

export type Report = ReturnType<typeof reportObject>;

/** The report (JSON-safe, what --json prints) and the sorted latencies for the charts. */
export function buildReport(input: ReportInput): { report: Report; latencies: Float64Array } {
  const outcome = outcomes(input.accept, input.deliveries);
  return { report: reportObject(input, outcome), latencies: outcome.latencies };
}

function reportObject(input: ReportInput, outcome: Outcomes) {
  const { accept, deliveries } = input;
  const t0 = Number.isNaN(accept.firstSendAt) ? 0 : accept.firstSendAt;
  const acceptSpan = seconds(accept.lastAcceptAt - t0);
  const totalSpan = seconds(outcome.lastDelivery - t0);
  const lat = outcome.latencies;
  const bucketMs = chooseBucketMs(Math.max(totalSpan, acceptSpan) * 1000);
  const series = {
    bucket_s: bucketMs / 1000,
    accepted_per_s: rateSeries(accepted(accept), t0, bucketMs),
    delivered_per_s: rateSeries(outcome.deliveryTimes, t0, bucketMs),
    delivered_per_s_by_provider: Object.fromEntries(
      input.providers.map((p) => [p.provider, rateSeries(deliveries.arrivals.filter((a) => a.provider === p.provider).map((a) => a.t), t0, bucketMs)]),
    ),
    gateway_rss_mb: bucketMax(input.gatewayRss, t0, bucketMs, seriesLength(totalSpan, acceptSpan, bucketMs)),
  };
  return {
    run_id: input.runId,
    mode: input.mode,
    started_at: input.startedAt.toISOString(),
    messages: accept.messages,
    ...input.settings,
    accepted: accept.accepted,
    refused: accept.refused,
    failed: accept.failed,
    unknown_outcome: accept.unknownOutcome,
    not_sent: outcome.notSent,
    delivered: outcome.delivered,
    bounced: outcome.bounced,
    lost: outcome.lost,
    duplicates: deliveries.duplicates,
    delivered_unaccepted: outcome.deliveredUnaccepted,
    foreign: deliveries.foreign,
    dkim_signed: deliveries.dkimSigned,
    dsn_received: input.dsnReceived,
    accepted_per_s: acceptSpan > 0 ? round(accept.accepted / acceptSpan) : 0,
    delivered_per_s: totalSpan > 0 ? round(outcome.delivered / totalSpan) : 0,
    accept_s: round(acceptSpan, 2),
    total_s: round(totalSpan, 2),
    drain: { end: input.drain.end, waited_s: round(input.drain.waited_s, 1) },
    latency_ms: {
      p50: roundOrNull(percentile(lat, 50), 2),
      p95: roundOrNull(percentile(lat, 95), 2),
      p99: roundOrNull(percentile(lat, 99), 2),
      max: roundOrNull(lat.length ? (lat[lat.length - 1] ?? null) : null, 2),
      mean: roundOrNull(mean(lat), 2),
    },
    cpu_s: input.gateway?.cpu_s ?? null,
    rss_peak_mb: input.gateway?.rss_peak_mb ?? null,
    providers: providerReports(input.providers, deliveries.arrivals),
    sources: sourceReports(input.sourcePeers, deliveries.arrivals),
    client: {
      transient_replies: accept.transientReplies,
      connect_errors: accept.connectErrors,
      samples: [...accept.samples],
    },
    dns: input.endpoints.dns,
    sink_port: input.endpoints.sink_port,
    work_dir: input.endpoints.work_dir,
    warnings: [...input.warnings],
    series,
  };
}

interface Outcomes {
  delivered: number;
  bounced: number;
  lost: number;
  notSent: number;
  deliveredUnaccepted: number;
  latencies: Float64Array;
  deliveryTimes: number[];
  lastDelivery: number;
}

/** Per seq: accepted and delivered, accepted and refused for good at a provider (bounced),
 * or accepted and never seen (lost). Latency = first arrival − the 250, at least 0. */
function outcomes(accept: AcceptLog, deliveries: DeliveryLog): Outcomes {
  const lat: number[] = [];
  const times: number[] = [];
  const o = { delivered: 0, bounced: 0, lost: 0, notSent: 0, deliveredUnaccepted: 0, lastDelivery: Number.NaN };
  for (let seq = 0; seq < accept.messages; seq++) {
    const state = accept.state[seq];
    const arrived = deliveries.wasDelivered(seq);
    if (state === SEQ.pending) o.notSent += 1;
    if (state !== SEQ.accepted) {
      if (arrived) o.deliveredUnaccepted += 1;
      continue;
    }
    if (arrived) {
      const t = deliveries.firstArrival[seq] ?? 0;
      o.delivered += 1;
      times.push(t);
      lat.push(Math.max(0, t - (accept.acceptedAt[seq] ?? t)));
      if (!(t <= o.lastDelivery)) o.lastDelivery = t;
    } else if (deliveries.wasRefusedHard(seq)) {
      o.bounced += 1;
    } else {
      o.lost += 1;
    }
  }
  return { ...o, latencies: sortedCopy(lat), deliveryTimes: times };
}

function providerReports(providers: readonly ProviderInput[], arrivals: readonly Arrival[]): Record<string, ProviderReport> {
  const out: Record<string, ProviderReport> = {};
  for (const p of providers) {
    const mine = arrivals.filter((a) => a.provider === p.provider);
    const byIp = groupTimes(mine);
    const sources: ProviderReport['sources'] = {};
    let peak = 0;
    let rate = 0;
    for (const ip of new Set([...p.peers.keys(), ...byIp.keys()])) {
      const s = {
        peak_connections: p.peers.get(ip)?.peak_connections ?? 0,
        connections_opened: p.peers.get(ip)?.connections_total ?? 0,
        max_1s_rate: maxWindowCount(byIp.get(ip) ?? []),
        delivered: byIp.get(ip)?.length ?? 0,
      };
      sources[ip] = s;
      peak = Math.max(peak, s.peak_connections);
      rate = Math.max(rate, s.max_1s_rate);
    }
    const limits = limitsOf(p);
    out[p.provider] = {
      delivered: mine.length,
      peak_connections: peak,
      peak_connections_total: p.peakTotal,
      limit_connections: limits.connections,
      max_1s_rate: rate,
      max_1s_rate_total: maxWindowCount(mine.map((a) => a.t)),
      limit_rate: limits.rate,
      limits_from: limits.from,
      provider_max_connections: p.profileMaxConnections || null,
      provider_max_rate: p.profileMaxRate || null,
      within_limits: limits.from === null ? null : peak <= (limits.connections ?? Infinity) && rate <= (limits.rate ?? Infinity),
      refusals: { ...p.refusals },
      sessions: p.sessions,
      tls_sessions: p.tlsSessions,
      sources,
    };
  }
  return out;
}

function limitsOf(p: ProviderInput): { connections: number | null; rate: number | null; from: 'config' | 'profile' | null } {
  if (p.configured) return { connections: p.configured.max_connections, rate: p.configured.rate_per_s, from: 'config' };
  if (p.profileMaxConnections || p.profileMaxRate) {
    return { connections: p.profileMaxConnections || null, rate: p.profileMaxRate || null, from: 'profile' };
  }
  return { connections: null, rate: null, from: null };
}

function sourceReports(peers: ReadonlyMap<string, PeerSnapshot>, arrivals: readonly Arrival[]): Record<string, SourceReport> {
  const byIp = groupTimes(arrivals);
  const out: Record<string, SourceReport> = {};
  for (const ip of [...new Set([...peers.keys(), ...byIp.keys()])].sort(byAddress)) {
    out[ip] = {
      peak_connections: peers.get(ip)?.peak_connections ?? 0,
      connections_opened: peers.get(ip)?.connections_total ?? 0,
      max_1s_rate: maxWindowCount(byIp.get(ip) ?? []),
      delivered: byIp.get(ip)?.length ?? 0,
      ehlo: [...(peers.get(ip)?.ehlo ?? [])],
    };
  }
  return out;
}

/** Arrival times per peer IP, ascending (arrivals are recorded in clock order). */
function groupTimes(arrivals: readonly Arrival[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const a of arrivals) {
    let ts = m.get(a.ip);
    if (!ts) m.set(a.ip, (ts = []));
    ts.push(a.t);
  }
  return m;
}

/** The largest sample in each bucket; a bucket without one repeats the one before. */
function bucketMax(samples: readonly { t: number; mb: number }[], t0: number, bucketMs: number, buckets: number): number[] {
  if (samples.length === 0) return [];
  const out = new Array<number | null>(buckets).fill(null);
  for (const s of samples) {
    const k = Math.floor((s.t - t0) / bucketMs);
    if (k >= 0 && k < buckets) out[k] = Math.max(out[k] ?? 0, s.mb);
  }
  let last = samples[0]?.mb ?? 0;
  return out.map((v) => round((last = v ?? last), 1));
}

function seriesLength(totalSpan: number, acceptSpan: number, bucketMs: number): number {
  return Math.max(1, Math.ceil((Math.max(totalSpan, acceptSpan) * 1000) / bucketMs));
}

function* accepted(log: AcceptLog): Generator<number> {
  for (let i = 0; i < log.messages; i++) if (log.state[i] === SEQ.accepted) yield log.acceptedAt[i] ?? 0;
}

function byAddress(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return a.localeCompare(b);
}

function seconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

function roundOrNull(x: number | null, digits: number): number | null {
  return x === null ? null : round(x, digits);
}

/**
 * The header's DKIM words. `--dkim` only configures a gateway the load test starts; against
 * `--target` the target's own config decides, so say what the arrivals showed instead of
 * "none" beside a count of signed messages.
 */
export function dkimLabel(r: Pick<Report, 'mode' | 'dkim' | 'dkim_signed'>): string {
  if (r.mode === 'gateway') return r.dkim === 'none' ? 'dkim none' : `dkim ${r.dkim} (a fresh key)`;
  if (r.mode === 'sink-only') return 'dkim not applicable (no gateway)';
  return r.dkim_signed > 0 ? 'dkim by the target\'s own config' : 'dkim none seen from the target';
}
