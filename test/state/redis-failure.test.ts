/**
 * Redis dies or hangs mid-run (DESIGN.md "State", last paragraph): calls fail fast with
 * STATE_UNAVAILABLE instead of hanging, healthy() says so, and everything works again
 * once Redis is back; the resilient wrapper keeps delivering on local shares meanwhile.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisState } from '../../gateway/state/redis/redis-state.js';
import type { LeaseOwner } from '../../gateway/state/redis/throttle-store.js';
import { acquireLease } from '../../gateway/state/redis/scripts/acquire-lease-n.js';
import { ResilientState } from '../../gateway/state/resilient.js';
import { FakeClock } from '../support/fake-clock.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const binary = redisServerPath();
if (binary === null) console.warn('redis-server is not installed: Redis failure tests skipped');

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Awaits a call that must fail fast with STATE_UNAVAILABLE; returns how long it took. */
async function rejectsFast(call: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await expect(call()).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
  const elapsed = Date.now() - started;
  expect(elapsed).toBeLessThan(5_000);
  return elapsed;
}

const node = (id: string) => ({ id, address: `${id}:25`, startedAt: 1, version: '0.1.0' });

describe.skipIf(binary === null)('redis failure', () => {
  let server: PrivateRedis;
  let prefixes = 0;
  const open: { close(): Promise<void> }[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    server = await startRedis(binary);
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((state) => state.close()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    server.resume();
  });

  async function redisState(leaseOwner?: LeaseOwner, prefix = `failure${++prefixes}:`): Promise<RedisState> {
    const state = new RedisState({ url: server.url, prefix, ...(leaseOwner ? { leaseOwner } : {}) });
    open.push(state);
    expect(await state.waitReady(5_000)).toBe(true);
    return state;
  }

  it('rejects quickly while Redis is killed and recovers after a restart', async () => {
    const state = await redisState();
    expect(await state.throttle.acquire([{ key: 'k', limit: 2 }], 60_000)).not.toBeNull();
    await server.kill();
    await until('healthy() to turn false', () => !state.healthy(), 2_000);
    await rejectsFast(() => state.throttle.acquire([{ key: 'k', limit: 2 }], 60_000));
    await rejectsFast(() => state.throttle.take([{ key: 'r', rate: { count: 5, periodMs: 1_000 } }]));
    await rejectsFast(() => state.suppression.check('a@b.test'));
    await rejectsFast(() => state.warmup.take('tx1', '2026-11-01', 10));
    await rejectsFast(() => state.health.record('tx1', 'gmail', 'delivered'));
    await rejectsFast(() => state.holds.all());
    await rejectsFast(() => state.nodes.live());
    await rejectsFast(() => state.claims.claim('bounce:Q:a@b.test', 60_000));

    await server.restart();
    await until('healthy() to turn true', () => state.healthy());
    // A fresh server: nothing survived, and the scripts are loaded again on demand.
    expect(await state.throttle.acquire([{ key: 'k', limit: 1 }], 60_000)).not.toBeNull();
    await state.suppression.add([{ address: 'a@b.test', reason: 'manual', source: 'test', at: 1 }]);
    expect((await state.suppression.check('a@b.test'))?.reason).toBe('manual');
  });

  it('times out instead of hanging when Redis stalls, then recovers', async () => {
    const state = await redisState();
    server.pause();
    const elapsed = await rejectsFast(() => state.throttle.acquire([{ key: 'k', limit: 2 }], 60_000));
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(state.healthy()).toBe(false);
    server.resume();
    await until('healthy() to turn true', () => state.healthy());
    expect(await state.throttle.acquire([{ key: 'k', limit: 2 }], 60_000)).not.toBeNull();
  });

  it('a lease request Redis runs after the node stopped waiting for it holds nothing', async () => {
    const state = await redisState({ node: 'gw-1', boot: 'b1' });
    const claim = [{ key: 'frozen', limit: 2 }];
    const first = await state.throttle.acquire(claim, 60_000); // also teaches the node Redis's clock
    expect(first).not.toBeNull();
    server.pause();
    await rejectsFast(() => state.throttle.acquire(claim, 60_000));
    await rejectsFast(() => state.throttle.acquire(claim, 60_000));
    // Redis runs both acquires once it resumes: past their deadline, and released behind them.
    server.resume();
    await until('healthy() to turn true', () => state.healthy());
    expect(await state.throttle.leaseCount('frozen')).toBe(1);
    expect(state.throttle.pendingReleases()).toBe(0);
    if (first !== null) await state.throttle.release(first);
    expect(await state.throttle.leaseCount('frozen')).toBe(0);
  });

  it('the acquire script takes nothing once past the deadline the request carries', async () => {
    const redis = new Redis(server.url);
    try {
      const key = 'deadline-test:{t}:lease:k';
      const [, now] = (await redis.eval(acquireLease.lua, 2, 'deadline-test:{t}:holder:x', key, 'late', 60_000, 0, 0, '["k"]', 5)) as [number, number];
      expect(await redis.zcard(key)).toBe(1);
      expect(await redis.eval(acquireLease.lua, 2, 'deadline-test:{t}:holder:x', key, 'later', 60_000, now - 1_000, 0, '["k"]', 5)).toEqual([-1, expect.any(Number)]);
      expect(await redis.zrange(key, 0, -1)).toEqual(['late']);
    } finally {
      redis.disconnect();
    }
  });

  it('a restart drops this node\'s leases of its previous boot, and no other node\'s', async () => {
    const prefix = `failure${++prefixes}:`;
    const claim = [{ key: 'boot', limit: 3 }];
    const before = await redisState({ node: 'gw-1', boot: 'old' }, prefix);
    const other = await redisState({ node: 'gw-2', boot: 'x' }, prefix);
    expect(await before.throttle.acquire(claim, 60_000)).not.toBeNull();
    expect(await before.throttle.acquire(claim, 60_000)).not.toBeNull();
    expect(await other.throttle.acquire(claim, 60_000)).not.toBeNull();
    const after = await redisState({ node: 'gw-1', boot: 'new' }, prefix);
    expect(await after.throttle.acquire(claim, 60_000)).not.toBeNull();
    // gw-2's lease and the new boot's: gw-1's old two are gone.
    expect(await after.throttle.leaseCount('boot')).toBe(2);
  });

  it('a release made while Redis is frozen is applied once it answers, not dropped', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-resilient-'));
    dirs.push(dataDir);
    const shared = await redisState({ node: 'gw-1', boot: 'b1' });
    const state = new ResilientState({ shared, dataDir, clock: new FakeClock() });
    await state.open();
    const lease = await state.throttle.acquire([{ key: 'held', limit: 1 }], 60_000);
    if (lease === null) throw new Error('no shared lease');
    server.pause();
    await rejectsFast(() => shared.holds.all());
    expect(state.degraded()).toBe(true);
    await state.throttle.release(lease);
    server.resume();
    await until('shared state again', () => !state.degraded());
    expect(await state.throttle.leaseCount('held')).toBe(0);
    expect(await state.throttle.acquire([{ key: 'held', limit: 1 }], 60_000)).not.toBeNull();
  });

  it('after an outage the connections a node opened on its share count before it takes new ones', async () => {
    // Two nodes on one Redis, a limit of 4 connections: each holds its share (2) while
    // Redis is away. Once Redis is back (empty), the first node back may fill the limit
    // with its own 2 counted, and the second, whose 2 find no room, may open nothing:
    // 6 at most, the limit plus one node's share. Before, each node's local 2 came on
    // top of 4 shared ones (node 1 alone held 6, the fleet 8).
    const prefix = `failure${++prefixes}:`;
    const resilient = async (id: string) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'sluice-resilient-'));
      dirs.push(dataDir);
      const state = new ResilientState({ shared: await redisState({ node: id, boot: 'b1' }, prefix), dataDir, clock: new FakeClock(), nodeCountHint: 2 });
      await state.open();
      await state.nodes.heartbeat(node(id), 60_000);
      return state;
    };
    const [n1, n2] = [await resilient('gw-1'), await resilient('gw-2')];
    const claim = [{ key: 'rejoin', limit: 4 }];
    await server.kill();
    await until('both degraded', () => n1.degraded() && n2.degraded(), 10_000);
    for (const state of [n1, n2]) {
      const local = await Promise.all([1, 2, 3].map(() => state.throttle.acquire(claim, 60_000)));
      expect(local.filter((lease) => lease !== null)).toHaveLength(2);
    }

    await server.restart();
    await until('shared state again', () => !n1.degraded() && !n2.degraded());
    const more = await Promise.all([1, 2, 3, 4].map(() => n1.throttle.acquire(claim, 60_000)));
    expect(more.filter((lease) => lease !== null)).toHaveLength(2);
    expect(await n1.throttle.leaseCount('rejoin')).toBe(4);
    expect(await n2.throttle.acquire(claim, 60_000)).toBeNull();
    expect(await n2.throttle.leaseCount('rejoin')).toBe(4);
  });

  it('falls back to this node\'s share while Redis is down, then returns to shared limits', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-resilient-'));
    dirs.push(dataDir);
    const shared = await redisState();
    const clock = new FakeClock();
    const state = new ResilientState({ shared, dataDir, clock });
    await state.open();
    await state.nodes.heartbeat(node('gw-1'), 60_000);
    await state.nodes.heartbeat(node('gw-2'), 60_000);
    expect(await state.nodes.live()).toHaveLength(2);
    await state.holds.set({ scope: 'source:tx9', reason: 'held', until: null, by: 'cli' });
    expect(await state.holds.all()).toHaveLength(1);
    const claim = [{ key: 'tx1:gmail', limit: 4 }];
    const sharedLease = await state.throttle.acquire(claim, 60_000);
    expect(state.degraded()).toBe(false);
    if (sharedLease === null) throw new Error('no shared lease');
    await state.throttle.release(sharedLease);

    await server.kill();
    await until('degraded()', () => state.degraded(), 10_000);
    const started = Date.now();
    const local = await Promise.all([1, 2, 3].map(() => state.throttle.acquire(claim, 60_000)));
    expect(local.filter((lease) => lease !== null)).toHaveLength(2); // 4 shared / 2 live nodes
    const rate = { key: 'tx1:gmail', rate: { count: 10, periodMs: 1_000 } };
    const tokens = await Promise.all(Array.from({ length: 20 }, () => state.throttle.take([rate])));
    expect(tokens.filter((token) => token.ok).length).toBeLessThanOrEqual(5);
    expect(tokens.some((token) => !token.ok && token.retryAfterMs > 0)).toBe(true);
    await rejectsFast(() => state.suppression.check('a@b.test'));
    expect(await state.holds.all()).toHaveLength(1); // the hold is still in force
    // Bounded, not hanging (ioredis would wait for ever by default); generous for a loaded CI machine.
    expect(Date.now() - started).toBeLessThan(10_000);
    // Written in the background: wait for it rather than racing the writer.
    await expect.poll(async () => JSON.parse(await readFile(join(dataDir, 'fleet.json'), 'utf8').catch(() => 'null')), { timeout: 5_000 }).toEqual({ version: 1, liveNodes: 2 });

    await server.restart();
    await until('shared state again', () => !state.degraded());
    const [kept, dropped] = local.filter((lease) => lease !== null);
    if (kept === undefined || dropped === undefined) throw new Error('unreachable');
    await state.throttle.release(dropped);
    // A local lease joins the shared count at its next renew.
    expect(await state.throttle.renew(kept, 60_000)).toBe(true);
    expect(await state.throttle.leaseCount('tx1:gmail')).toBe(1);
    const more = await Promise.all([1, 2, 3, 4].map(() => state.throttle.acquire(claim, 60_000)));
    expect(more.filter((lease) => lease !== null)).toHaveLength(3);
    expect(await state.suppression.check('a@b.test')).toBeNull();
  });
});
