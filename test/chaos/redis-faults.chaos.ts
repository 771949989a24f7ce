// Redis killed (SIGKILL, then started again empty), and frozen (SIGSTOP) for 3, 20 and
// 60 s then SIGCONT, under two nodes that a client keeps sending through. For each:
// every message that got a 250 reaches the MX, and within 15 s of Redis being back (or
// of its 250, when that came later); no source sends more than its limit plus one node's
// fallback share in any second, nor holds more connections than its limit plus one
// node's share; each node's peak RSS stays under MEMORY_BOUND_MB; no lease is left in
// Redis once both nodes are idle.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { ROOT } from '../support/gateway.js';
import { redisServerPath } from '../support/redis-server.js';
import type { TestMx } from '../support/test-mx.js';
import { deliveries, events, figures, idOf, newStats, sendAll, sleep, type ClientStats } from './support/chaos.js';
import { CONNECTIONS, liveLeases, memoryMb, NODES, pacedClient, RATE, SOURCES, startFleet, type Fleet } from './support/redis-fleet.js';

const hasRedis = redisServerPath() !== null;
/** Every accepted message at the MX within this long of Redis answering again (or of its 250). */
const DELIVERY_BOUND_MS = 15_000;
/**
 * One node's share (docs/SHAPING.md "While Redis is down"): a node cut off from Redis
 * sends at most floor(limit / live nodes) per period and limit / nodes connections (at
 * least one). The promise is the limit; a window where one node is still on its share
 * while the other is back on the shared bucket may hold one share more, never more.
 */
const RATE_SHARE = Math.floor(RATE / NODES);
const CONNECTION_SHARE = Math.max(1, Math.floor(CONNECTIONS / NODES));
/** Peak RSS (VmHWM) per node: a node holds its queue in memory, not the message bodies. */
const MEMORY_BOUND_MB = 256;
/** What the client sends through each node: 60/s in all, below the 100/s the two sources may send. */
const PER_NODE_RATE = 30;

let fleet: Fleet | null = null;
afterAll(async () => {
  await fleet?.close();
});

/** Messages sent through each node at once just before Redis returns: both nodes then meet its return with a backlog, sending at the full limit. */
const BURST_PER_NODE = 200;

interface Fault {
  readonly name: string;
  /** How long Redis is away. */
  readonly ms: number;
  /** Breaks Redis and resolves when it answers again. */
  run(f: Fleet): Promise<void>;
}

const freeze = (seconds: number): Fault => ({
  name: `redis-freeze-${seconds}s`,
  ms: seconds * 1000,
  async run(f) {
    f.redis.pause();
    await sleep(this.ms);
    f.redis.resume();
  },
});

const kill: Fault = {
  name: 'redis-kill',
  ms: 10_000,
  async run(f) {
    await f.redis.kill();
    await sleep(this.ms);
    await f.redis.restart(); // empty: no persistence, every lease and bucket gone
  },
};

interface Run {
  readonly stats: ClientStats;
  readonly faultAt: number;
  readonly backAt: number;
  readonly deliveredDuringFault: number;
  /** Every VmRSS sample of both nodes, MB, once a second. */
  readonly rss: number[];
}

/** The client through both nodes, the fault, 5 s more of the client; RSS sampled throughout. */
async function drive(f: Fleet, fault: Fault): Promise<Run> {
  const { mx, nodes, ports } = f;
  const stats = newStats();
  let next = 0;
  let stop = false;
  const clients = ports.map((p) => pacedClient(p, PER_NODE_RATE, () => next++, stats, () => stop));
  const rss: number[] = [];
  const sampler = setInterval(() => {
    for (const n of nodes) if (n.child.pid) rss.push(memoryMb(n.child.pid, 'VmRSS'));
  }, 1_000);
  try {
    await sleep(5_000);
    const faultAt = Date.now();
    const atFault = mx.messages.length;
    const burst: Promise<unknown>[] = [];
    const burstTimer = setTimeout(() => {
      for (const p of ports) burst.push(sendAll(p, Array.from({ length: BURST_PER_NODE }, () => next++), { concurrency: 4, stats }));
    }, Math.max(0, fault.ms - 1_500));
    await fault.run(f);
    const backAt = Date.now();
    const deliveredDuringFault = mx.messages.length - atFault;
    await sleep(5_000); // the client goes on after Redis is back
    stop = true;
    clearTimeout(burstTimer);
    await Promise.all([...clients, ...burst]);
    // Everything acknowledged at the MX, or the deadline of the last one passed with a margin.
    const latest = Math.max(...[...stats.acked].map((id) => Math.max(backAt, stats.ackedAt.get(id) ?? backAt))) + DELIVERY_BOUND_MS;
    await mx.waitUntil(() => {
      const got = deliveries(mx).unique;
      return [...stats.acked].every((id) => got.has(id));
    }, Math.max(0, latest - Date.now()) + 30_000).catch(() => undefined);
    return { stats, faultAt, backAt, deliveredDuringFault, rss };
  } finally {
    stop = true;
    clearInterval(sampler);
  }
}

/** What reached the MX, against what got a 250: lost, late, the backlog's drain, the longest pause. */
function arrivals(mx: TestMx, { stats, backAt }: Run) {
  const deadline = (id: number) => Math.max(backAt, stats.ackedAt.get(id) ?? backAt) + DELIVERY_BOUND_MS;
  const firstArrival = new Map<number, number>();
  for (const m of mx.messages) for (const r of m.rcpts) if (!firstArrival.has(idOf(r))) firstArrival.set(idOf(r), m.at);
  const arrivalOf = (id: number) => firstArrival.get(id) ?? Infinity;
  const acked = [...stats.acked];
  const ackedBeforeBack = acked.filter((id) => (stats.ackedAt.get(id) ?? 0) <= backAt);
  const after = [backAt, ...mx.messages.map((m) => m.at).filter((at) => at > backAt).sort((a, b) => a - b)];
  return {
    lost: acked.filter((id) => !firstArrival.has(id)),
    late: acked.filter((id) => arrivalOf(id) > deadline(id)),
    backlogAtReturn: ackedBeforeBack.filter((id) => arrivalOf(id) > backAt).length,
    lastOfBacklogMs: Math.max(0, ...ackedBeforeBack.map((id) => arrivalOf(id) - backAt)),
    longestGapMs: Math.max(0, ...after.slice(1).map((at, i) => at - (after[i] ?? at))),
  };
}

/** Per source: messages, the fullest second (and where it starts), most sessions, arrivals per second from 3 s before the return to 15 s after. */
function perSource(mx: TestMx, backAt: number) {
  return Object.fromEntries(
    Object.entries(SOURCES).map(([name, ip]) => {
      const times = mx.messages.filter((m) => m.peerIp === ip).map((m) => m.at);
      const stats = mx.stats(ip);
      const second = (k: number) => times.filter((at) => at >= backAt + k * 1000 && at < backAt + (k + 1) * 1000).length;
      return [name, { messages: stats.messages, peak_per_second: stats.peakPerSecond, peak_window_from_return_ms: peakWindowAt(times) - backAt, peak_connections: stats.peak, per_second_around_return: Array.from({ length: 18 }, (_, k) => second(k - 3)) }];
    }),
  );
}

/** Live leases per lease set once every session to the MX has closed: then they are nobody's. */
async function leasesWhenIdle(f: Fleet): Promise<Record<string, number>> {
  await f.mx.waitUntil((m) => Object.values(SOURCES).every((ip) => (m.peers().get(ip)?.current ?? 0) === 0), 20_000).catch(() => undefined);
  let leases = await liveLeases(f.redis.url);
  for (let i = 0; i < 10 && Object.values(leases).some((n) => n > 0); i++) {
    await sleep(300); // a release on its way
    leases = await liveLeases(f.redis.url);
  }
  return leases;
}

async function scenario(fault: Fault): Promise<void> {
  const f = await startFleet();
  fleet = f;
  const { mx, nodes } = f;
  await sleep(3_000); // both nodes in the registry: each knows the fleet is two
  const run = await drive(f, fault);
  const got = arrivals(mx, run);
  const hwm = nodes.map((n) => (n.child.pid ? memoryMb(n.child.pid, 'VmHWM') : NaN));
  const leases = await leasesWhenIdle(f);
  const sources = perSource(mx, run.backAt);
  figures(fault.name, {
    fault_ms: run.backAt - run.faultAt,
    client_rate_per_s: PER_NODE_RATE * NODES,
    burst_before_return: BURST_PER_NODE * NODES,
    acknowledged: run.stats.acked.size,
    lost: got.lost.length,
    late: got.late.length,
    delivered_during_fault: run.deliveredDuringFault,
    backlog_at_return: got.backlogAtReturn,
    last_of_backlog_after_return_ms: got.lastOfBacklogMs,
    longest_gap_after_return_ms: got.longestGapMs,
    duplicates: deliveries(mx).duplicates,
    rate_limit_per_s: RATE,
    rate_bound_per_s: RATE + RATE_SHARE,
    connection_limit: CONNECTIONS,
    connection_bound: CONNECTIONS + CONNECTION_SHARE,
    per_source: sources,
    rss_max_mb: Math.max(0, ...run.rss),
    vm_hwm_mb: hwm,
    memory_bound_mb: MEMORY_BOUND_MB,
    leases_left: Object.values(leases).reduce((a, b) => a + b, 0),
    degraded_events: nodes.map((n) => events(n, 'state_degraded').length),
    restored_events: nodes.map((n) => events(n, 'state_restored').length),
    refusals: Object.fromEntries(run.stats.refusals),
  });
  // The nodes' logs next to the figures: what each did around the fault.
  nodes.forEach((n, i) => writeFileSync(join(ROOT, 'test-artifacts/chaos', `${fault.name}-n${i + 1}.log`), n.output()));

  expect(run.stats.acked.size).toBeGreaterThan(PER_NODE_RATE * NODES * 5);
  expect(got.lost).toEqual([]);
  expect(got.late).toEqual([]);
  for (const s of Object.values(sources)) {
    expect(s.peak_per_second).toBeLessThanOrEqual(RATE + RATE_SHARE);
    expect(s.peak_connections).toBeLessThanOrEqual(CONNECTIONS + CONNECTION_SHARE);
  }
  for (const mb of hwm) expect(mb).toBeLessThan(MEMORY_BOUND_MB);
  expect(leases).toEqual(Object.fromEntries(Object.keys(leases).map((k) => [k, 0])));
  await f.close();
  fleet = null;
}

/** Where the fullest 1 s window of `times` (sorted) starts: its first arrival. */
function peakWindowAt(times: readonly number[]): number {
  let best = 0;
  let at = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= 1_000) start++;
    if (end - start + 1 > best) [best, at] = [end - start + 1, times[start] ?? 0];
  }
  return at;
}

test.skipIf(!hasRedis)('Redis killed under two nodes: no loss, no stall, limits within one share', () => scenario(kill));
for (const seconds of [3, 20, 60]) {
  test.skipIf(!hasRedis)(`Redis frozen ${seconds} s under two nodes: no loss, no stall, limits within one share`, () => scenario(freeze(seconds)));
}
