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
import { deliveries, events, figures, idOf, newStats, sendAll, sleep } from './support/chaos.js';
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

async function scenario(fault: Fault): Promise<void> {
  const f = await startFleet();
  fleet = f;
  const { mx, nodes, ports } = f;
  await sleep(3_000); // both nodes in the registry: each knows the fleet is two
  const stats = newStats();
  let next = 0;
  let stop = false;
  const clients = ports.map((p) => pacedClient(p, PER_NODE_RATE, () => next++, stats, () => stop));
  const rss: number[] = [];
  const sampler = setInterval(() => {
    for (const n of nodes) if (n.child.pid) rss.push(memoryMb(n.child.pid, 'VmRSS'));
  }, 1_000);

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

  const deadline = (id: number) => Math.max(backAt, stats.ackedAt.get(id) ?? backAt) + DELIVERY_BOUND_MS;
  const latest = Math.max(...[...stats.acked].map(deadline));
  await mx.waitUntil(() => {
    const got = deliveries(mx).unique;
    return [...stats.acked].every((id) => got.has(id));
  }, Math.max(0, latest - Date.now()) + 30_000).catch(() => undefined);
  clearInterval(sampler);

  const firstArrival = new Map<number, number>();
  for (const m of mx.messages) for (const r of m.rcpts) if (!firstArrival.has(idOf(r))) firstArrival.set(idOf(r), m.at);
  const lost = [...stats.acked].filter((id) => !firstArrival.has(id));
  const late = [...stats.acked].filter((id) => (firstArrival.get(id) ?? Infinity) > deadline(id));
  const ackedBeforeBack = [...stats.acked].filter((id) => (stats.ackedAt.get(id) ?? 0) <= backAt);
  const lastOfBacklogMs = Math.max(0, ...ackedBeforeBack.map((id) => (firstArrival.get(id) ?? Infinity) - backAt));
  const after = [backAt, ...mx.messages.map((m) => m.at).filter((at) => at > backAt).sort((a, b) => a - b)];
  const longestGapMs = Math.max(0, ...after.slice(1).map((at, i) => at - (after[i] ?? at)));
  const hwm = nodes.map((n) => (n.child.pid ? memoryMb(n.child.pid, 'VmHWM') : NaN));

  // Idle: every session to the MX closed; the leases left in Redis are then nobody's.
  await mx.waitUntil((m) => Object.values(SOURCES).every((ip) => (m.peers().get(ip)?.current ?? 0) === 0), 20_000).catch(() => undefined);
  let leases = await liveLeases(f.redis.url);
  for (let i = 0; i < 10 && Object.values(leases).some((n) => n > 0); i++) {
    await sleep(300);
    leases = await liveLeases(f.redis.url);
  }
  const leasesLeft = Object.values(leases).reduce((a, b) => a + b, 0);

  // Arrivals per second per source, from 3 s before Redis came back to 15 s after it.
  const timeline = (ip: string) => Array.from({ length: 18 }, (_, k) => mx.messages.filter((m) => m.peerIp === ip && m.at >= backAt + (k - 3) * 1000 && m.at < backAt + (k - 2) * 1000).length);
  const perSource = Object.fromEntries(Object.entries(SOURCES).map(([name, ip]) => [name, { messages: mx.stats(ip).messages, peak_per_second: mx.stats(ip).peakPerSecond, peak_window_from_return_ms: peakWindowAt(mx.messages.filter((m) => m.peerIp === ip).map((m) => m.at)) - backAt, peak_connections: mx.stats(ip).peak, per_second_around_return: timeline(ip) }]));
  figures(fault.name, {
    fault_ms: backAt - faultAt,
    client_rate_per_s: PER_NODE_RATE * NODES,
    burst_before_return: BURST_PER_NODE * NODES,
    acknowledged: stats.acked.size,
    lost: lost.length,
    late: late.length,
    delivered_during_fault: deliveredDuringFault,
    backlog_at_return: ackedBeforeBack.filter((id) => (firstArrival.get(id) ?? Infinity) > backAt).length,
    last_of_backlog_after_return_ms: lastOfBacklogMs,
    longest_gap_after_return_ms: longestGapMs,
    duplicates: deliveries(mx).duplicates,
    rate_limit_per_s: RATE,
    rate_bound_per_s: RATE + RATE_SHARE,
    connection_limit: CONNECTIONS,
    connection_bound: CONNECTIONS + CONNECTION_SHARE,
    per_source: perSource,
    rss_max_mb: Math.max(0, ...rss),
    vm_hwm_mb: hwm,
    memory_bound_mb: MEMORY_BOUND_MB,
    leases_left: leasesLeft,
    degraded_events: nodes.map((n) => events(n, 'state_degraded').length),
    restored_events: nodes.map((n) => events(n, 'state_restored').length),
    refusals: Object.fromEntries(stats.refusals),
  });

  // The nodes' logs next to the figures: what each did around the fault.
  nodes.forEach((n, i) => writeFileSync(join(ROOT, 'test-artifacts/chaos', `${fault.name}-n${i + 1}.log`), n.output()));
  console.log(`redis fault ${fault.name}: back at ${new Date(backAt).toISOString()}`);

  expect(stats.acked.size).toBeGreaterThan(PER_NODE_RATE * NODES * 5);
  expect(lost).toEqual([]);
  expect(late).toEqual([]);
  for (const s of Object.values(perSource)) {
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
