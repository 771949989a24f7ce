/**
 * One contract for both state backends (DESIGN.md "State": both pass one suite).
 * Embedded runs on a fake clock; Redis runs on a private redis-server and waits out
 * short TTLs on the wall clock, since Redis TIME cannot be faked.
 */
import { mkdtemp, readFile, rm, stat, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedClaims } from '../../gateway/state/embedded/claim-store.js';
import { EmbeddedState } from '../../gateway/state/embedded/embedded-state.js';
import { RedisState } from '../../gateway/state/redis/redis-state.js';
import type { RateClaim, StateBackend, SuppressionEntry } from '../../gateway/state/types.js';
import { MARGIN_US, SLACK_US } from '../../gateway/state/gcra-params.js';
import { FakeClock } from '../support/fake-clock.js';
import { drive, grantsWithin, tightestSpan } from '../support/rate-timeline.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

interface Harness {
  readonly state: StateBackend;
  /** A lease/heartbeat TTL short enough to wait out. */
  readonly ttlMs: number;
  /** Lets `ms` pass for the backend: the fake clock for embedded, real time for Redis. */
  pass(ms: number): Promise<void>;
  /** The backend's "now", for hold expiry times. */
  now(): number;
  /** The backend's "now" as finely as it has it (Redis TIME has microseconds). */
  stamp(): number;
  readonly dataDir: string | null;
  /**
   * The same node started again (a new boot, as after kill -9): its state from the same
   * data dir or Redis prefix. Closed by dispose().
   */
  restart(): Promise<StateBackend>;
  dispose(): Promise<void>;
}

interface BackendCase {
  readonly name: 'embedded' | 'redis';
  readonly skipReason: string | null;
  setup(): Promise<void>;
  make(): Promise<Harness>;
  teardown(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function embeddedCase(): BackendCase {
  return {
    name: 'embedded',
    skipReason: null,
    setup: async () => undefined,
    teardown: async () => undefined,
    make: async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'sluice-state-'));
      const clock = new FakeClock();
      const state = new EmbeddedState({ dataDir, clock });
      await state.open();
      const later: EmbeddedState[] = [];
      return {
        state,
        ttlMs: 1_000,
        pass: async (ms) => clock.advance(ms),
        now: () => clock.now(),
        stamp: () => clock.now(),
        dataDir,
        restart: async () => {
          const next = new EmbeddedState({ dataDir, clock });
          await next.open();
          later.push(next);
          return next;
        },
        dispose: async () => {
          await state.close();
          for (const next of later) await next.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  };
}

function redisCase(): BackendCase {
  const binary = redisServerPath();
  let server: PrivateRedis | null = null;
  let tests = 0;
  return {
    name: 'redis',
    skipReason: binary === null ? 'redis-server is not installed: Redis backend skipped' : null,
    setup: async () => {
      server = await startRedis(binary);
    },
    teardown: async () => {
      await server?.stop();
    },
    make: async () => {
      if (server === null) throw new Error('redis case not set up');
      // One key prefix per test: tests share the server, never each other's keys.
      const url = server.url;
      const prefix = `contract${++tests}:`;
      let boots = 0;
      const boot = async (): Promise<RedisState> => {
        const next = new RedisState({ url, prefix, leaseOwner: { node: 'gw-1', boot: `boot${++boots}` } });
        if (!(await next.waitReady(5_000))) throw new Error('private redis did not become ready');
        return next;
      };
      const state = await boot();
      const later: RedisState[] = [];
      return {
        state,
        ttlMs: 300,
        pass: sleep,
        now: () => Date.now(),
        stamp: () => performance.timeOrigin + performance.now(),
        dataDir: null,
        restart: async () => {
          const next = await boot();
          later.push(next);
          return next;
        },
        dispose: async () => {
          await state.close();
          for (const next of later) await next.close();
        },
      };
    },
  };
}

const entry = (address: string, reason: SuppressionEntry['reason'] = 'hard-bounce'): SuppressionEntry => ({
  address,
  reason,
  source: 'delivery',
  at: 1_790_000_000_000,
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const cases = [embeddedCase(), redisCase()];
for (const backend of cases) {
  if (backend.skipReason !== null) console.warn(backend.skipReason);
}

describe.each(cases)('state contract: $name', (backend) => {
  const run = backend.skipReason === null ? describe : describe.skip;
  run(backend.name, () => {
    let h: Harness;
    beforeAll(() => backend.setup());
    afterAll(() => backend.teardown());
    beforeEach(async () => {
      h = await backend.make();
    });
    afterEach(() => h.dispose());

    describe('suppression', () => {
      it('adds, checks by address and by domain, case-insensitively', async () => {
        const s = h.state.suppression;
        const first = [entry('User@Example.com', 'unsubscribe'), entry('@Blocked.test'), entry('x@y.test')];
        expect(await s.add(first)).toBe(3);
        expect(await s.add([entry('user@example.com', 'complaint'), entry('new@y.test')])).toBe(1);
        expect(await s.check('USER@EXAMPLE.COM')).toEqual({ ...entry('user@example.com', 'complaint') });
        expect((await s.check('anyone@blocked.TEST'))?.address).toBe('@blocked.test');
        expect((await s.check('@blocked.test'))?.address).toBe('@blocked.test');
        expect(await s.check('user@elsewhere.test')).toBeNull();
        expect(await s.count()).toBe(4);
      });

      it('prefers the address entry over its domain', async () => {
        const s = h.state.suppression;
        await s.add([entry('@d.test', 'manual'), entry('a@d.test', 'complaint')]);
        expect((await s.check('a@d.test'))?.reason).toBe('complaint');
        expect((await s.check('b@d.test'))?.reason).toBe('manual');
      });

      it('lists every entry and removes by address or domain', async () => {
        const s = h.state.suppression;
        await s.add([entry('a@x.test'), entry('b@x.test'), entry('@z.test')]);
        const listed = await collect(s.list());
        expect(listed.map((e) => e.address).sort()).toEqual(['@z.test', 'a@x.test', 'b@x.test']);
        expect(listed.find((e) => e.address === 'a@x.test')).toEqual(entry('a@x.test'));
        expect(await s.remove(['A@X.test', '@z.test', 'nobody@x.test'])).toBe(2);
        expect(await s.check('a@x.test')).toBeNull();
        expect(await s.check('q@z.test')).toBeNull();
        expect(await s.count()).toBe(1);
      });

      it.runIf(backend.name === 'embedded')('survives a reopen, a torn last record and a compaction', async () => {
        const dataDir = h.dataDir ?? '';
        const clock = new FakeClock();
        await h.state.suppression.add([entry('keep@x.test'), entry('gone@x.test'), entry('@dom.test')]);
        await h.state.suppression.remove(['gone@x.test']);
        await h.state.close();
        // A crash mid-append leaves half a record with no newline.
        await appendFile(join(dataDir, 'suppression.log'), '+\thalf@x.te');
        let state = new EmbeddedState({ dataDir, clock });
        expect((await state.suppression.check('keep@x.test'))?.reason).toBe('hard-bounce');
        expect(await state.suppression.check('gone@x.test')).toBeNull();
        expect(await state.suppression.check('half@x.te')).toBeNull();
        expect(await state.suppression.count()).toBe(2);
        // Enough superseded records to trigger a compaction.
        const many = Array.from({ length: 12_000 }, (_, i) => entry(`bulk${i}@x.test`));
        await state.suppression.add(many);
        await state.suppression.remove(many.map((e) => e.address));
        const log = join(dataDir, 'suppression.log');
        expect((await readFile(log, 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
        await state.suppression.add([entry('after@x.test')]);
        await state.close();
        state = new EmbeddedState({ dataDir, clock });
        expect(await state.suppression.count()).toBe(3);
        expect((await state.suppression.check('after@x.test'))?.address).toBe('after@x.test');
        expect((await stat(log)).size).toBeLessThan(200);
        await state.close();
      });
    });

    it.runIf(backend.name === 'embedded')('keeps warm-up counts, holds and health across a reopen', async () => {
      const dataDir = h.dataDir ?? '';
      await h.state.warmup.take('tx1', '2026-11-01', 10);
      await h.state.warmup.take('tx1', '2026-11-01', 10);
      await h.state.holds.set({ scope: 'pool:promo', reason: 'review', until: h.now() + 60_000, by: 'admin-api' });
      await h.state.health.record('tx1', 'gmail', 'bounced');
      await h.state.close();
      const clock = new FakeClock(h.now());
      const state = new EmbeddedState({ dataDir, clock });
      expect(await state.warmup.used('tx1', '2026-11-01')).toBe(2);
      expect((await state.holds.all()).map((hold) => hold.scope)).toEqual(['pool:promo']);
      expect((await state.health.counts('tx1', 'gmail', 60_000)).bounced).toBe(1);
      clock.advance(60_000);
      expect(await state.holds.all()).toEqual([]);
      await state.close();
    });

    describe('throttle leases', () => {
      it('takes every claim or none', async () => {
        const t = h.state.throttle;
        const first = await t.acquire([{ key: 'a', limit: 1 }, { key: 'b', limit: 2 }], 60_000);
        expect(first?.keys).toEqual(['a', 'b']);
        expect(await t.acquire([{ key: 'b', limit: 2 }, { key: 'a', limit: 1 }], 60_000)).toBeNull();
        expect(await t.leaseCount('b')).toBe(1);
        expect(await t.acquire([{ key: 'b', limit: 2 }], 60_000)).not.toBeNull();
        expect(await t.leaseCount('b')).toBe(2);
        if (first === null) throw new Error('unreachable');
        await t.release(first);
        await t.release(first);
        expect(await t.leaseCount('a')).toBe(0);
        expect(await t.leaseCount('b')).toBe(1);
      });

      it('holds the limit under 50 concurrent acquires', async () => {
        const claims = [{ key: 'busy', limit: 5 }, { key: 'provider', limit: 7 }];
        const results = await Promise.all(Array.from({ length: 50 }, () => h.state.throttle.acquire(claims, 60_000)));
        expect(results.filter((lease) => lease !== null)).toHaveLength(5);
        expect(await h.state.throttle.leaseCount('busy')).toBe(5);
      });

      it('a restarted node holds none of the leases of its previous run', async () => {
        const claim = [{ key: 'restart', limit: 3 }];
        for (let i = 0; i < 3; i++) expect(await h.state.throttle.acquire(claim, 60_000)).not.toBeNull();
        expect(await h.state.throttle.acquire(claim, 60_000)).toBeNull();
        // kill -9: nothing was released. The next run's first acquire finds the slots free.
        const next = await h.restart();
        expect(await next.throttle.acquire(claim, 60_000)).not.toBeNull();
        expect(await next.throttle.leaseCount('restart')).toBe(1);
      });

      it('lets a lease lapse after its TTL unless renewed', async () => {
        const t = h.state.throttle;
        const lease = await t.acquire([{ key: 'ttl', limit: 1 }], h.ttlMs);
        if (lease === null) throw new Error('no lease');
        // Short waits before "still held" checks, long ones before "lapsed": a slow
        // machine can only make the lapse checks safer.
        await h.pass(h.ttlMs * 0.3);
        expect(await t.renew(lease, h.ttlMs)).toBe(true);
        await h.pass(h.ttlMs * 0.3);
        expect(await t.acquire([{ key: 'ttl', limit: 1 }], h.ttlMs)).toBeNull();
        await h.pass(h.ttlMs * 0.8);
        expect(await t.leaseCount('ttl')).toBe(0);
        expect(await t.renew(lease, h.ttlMs)).toBe(false);
        expect(await t.acquire([{ key: 'ttl', limit: 1 }], h.ttlMs)).not.toBeNull();
      });
    });

    describe('throttle rate', () => {
      const take = (claim: RateClaim) => () => h.state.throttle.take([claim]);

      it('lets `burst` through at once, then refuses with a retry time', async () => {
        // 5 per second, burst 3: T = (1000 + 15 margin) / (5 - 3 + 1) = 338.3 ms.
        const claim = { key: 'r', rate: { count: 5, periodMs: 1_000, burst: 3 } };
        // Redis keeps its own clock (TIME): the wait shrinks by what passed since the first
        // take, which a loaded machine can stretch. The embedded backend runs on the fake clock.
        const started = performance.now();
        for (let i = 0; i < 3; i++) expect(await h.state.throttle.take([claim])).toEqual({ ok: true });
        const refused = await h.state.throttle.take([claim]);
        const elapsed = Math.ceil(performance.now() - started);
        expect(refused.ok).toBe(false);
        const wait = refused.ok ? 0 : refused.retryAfterMs;
        expect(wait).toBeGreaterThanOrEqual(338 - elapsed);
        expect(wait).toBeLessThanOrEqual(339);
        if (backend.name === 'embedded') expect(wait).toBe(339);
        await h.pass(wait + 5);
        expect(await h.state.throttle.take([claim])).toEqual({ ok: true });
      });

      it('spaces tokens (P + margin + slack) / N apart without a burst (40/s: one per 25.75 ms)', async () => {
        const claim = { key: 'gcra', rate: { count: 40, periodMs: 1_000 } };
        const first = await Promise.all(Array.from({ length: 3 }, () => h.state.throttle.take([claim])));
        expect(first.filter((token) => token.ok)).toHaveLength(1);
        const refused = first.find((token) => !token.ok);
        const wait = refused !== undefined && !refused.ok ? refused.retryAfterMs : 0;
        expect(wait).toBeGreaterThan(0);
        // 25.75 ms less the 15 ms slack, rounded up.
        expect(wait).toBeLessThanOrEqual(11);
        await h.pass(wait);
        expect((await h.state.throttle.take([claim])).ok).toBe(true);
        if (backend.name === 'embedded') expect(await h.state.throttle.take([claim])).toEqual({ ok: false, retryAfterMs: 26 });
      });

      it('takes from every bucket or from none', async () => {
        const fast = { key: 'fast', rate: { count: 5, periodMs: 1_000, burst: 5 } };
        const slow = { key: 'slow', rate: { count: 1, periodMs: 60_000 } };
        expect((await h.state.throttle.take([fast, slow])).ok).toBe(true);
        const refused = await h.state.throttle.take([fast, slow]);
        expect(refused.ok ? 0 : refused.retryAfterMs).toBeGreaterThan(1_000);
        for (let i = 0; i < 4; i++) expect((await h.state.throttle.take([fast])).ok).toBe(true);
        expect((await h.state.throttle.take([fast])).ok).toBe(false);
      });

      // Embedded: one taker on the fake clock, so grant times are exact. Redis: 4 takers on
      // the wall clock and a short period; each grant is bracketed by the calls' timestamps.
      const takers = backend.name === 'embedded' ? 1 : 4;
      const periodMs = backend.name === 'embedded' ? 1_000 : 200;
      const windows = [
        { what: 'no burst', rate: { count: 10, periodMs } },
        { what: 'burst 4', rate: { count: 10, periodMs, burst: 4 } },
        { what: 'burst = count', rate: { count: 10, periodMs, burst: 10 } },
      ];
      it.each(windows)('never grants more than N in any window of one period ($what)', async ({ rate }) => {
        // Late comebacks (up to 7 ms) as timers and round trips add on a busy node.
        const grants = await drive(take({ key: 'win', rate }), h, 10 * periodMs, takers, [0, 3, 1, 7, 0, 2]);
        // The first window's burst, then N - b + 1 per period or so (a loose floor: Redis runs on the wall clock).
        expect(grants.length).toBeGreaterThanOrEqual(rate.count + 5 * (rate.count - (rate.burst ?? 1) + 1));
        expect(tightestSpan(grants, rate.count)).toBeGreaterThanOrEqual(periodMs);
      });

      it.runIf(backend.name === 'embedded')('keeps the documented sustained rate over several periods', async () => {
        // No burst: N * P / (P + margin + slack) per period; with burst b: (N - b + 1) * P / (P + margin).
        const plain = { key: 'plain', rate: { count: 150, periodMs: 1_000 } };
        const start = h.stamp();
        const grants = await drive(take(plain), h, 10_000, 1, [0, 2, 9, 4]);
        const documented = (150 * 1_000) / (1_000 + (MARGIN_US + SLACK_US) / 1_000);
        expect(grantsWithin(grants, start, start + 10_000)).toBeGreaterThanOrEqual(Math.floor(10 * documented));
        expect(tightestSpan(grants, 150)).toBeGreaterThanOrEqual(1_000);

        const hourly = { key: 'hourly', rate: { count: 500, periodMs: 3_600_000, burst: 50 } };
        const from = h.stamp();
        const slow = await drive(take(hourly), h, 5 * 3_600_000, 1, [0, 1_500, 20]);
        const hourlyDocumented = ((500 - 50 + 1) * 3_600_000) / (3_600_000 + MARGIN_US / 1_000);
        expect(grantsWithin(slow, from, from + 5 * 3_600_000)).toBeGreaterThanOrEqual(Math.floor(5 * hourlyDocumented));
        expect(tightestSpan(slow, 500)).toBeGreaterThanOrEqual(3_600_000);
      });
    });

    describe('failure limits', () => {
      const claim = (key: string, limit = 3) => ({ key, limit, windowMs: h.ttlMs * 10, lockoutMs: h.ttlMs });

      it('charges every key or none, refuses and locks a key out of attempts, gives a charge back on refund', async () => {
        const f = h.state.failures;
        for (let i = 0; i < 3; i++) expect(await f.attempt([claim('ip:a'), claim('acct:x', 5)])).toEqual({ ok: true });
        const refused = await f.attempt([claim('ip:a'), claim('acct:x', 5)]);
        expect(refused.ok).toBe(false);
        expect(refused.ok ? 0 : refused.retryAfterMs).toBeGreaterThan(h.ttlMs * 0.5);
        expect(refused.ok ? 0 : refused.retryAfterMs).toBeLessThanOrEqual(h.ttlMs);
        // acct:x was not charged by the refused attempt: two more fit, then it is out too.
        expect(await f.attempt([claim('ip:b'), claim('acct:x', 5)])).toEqual({ ok: true });
        expect(await f.attempt([claim('ip:c'), claim('acct:x', 5)])).toEqual({ ok: true });
        expect((await f.attempt([claim('ip:d'), claim('acct:x', 5)])).ok).toBe(false);
        // A refund gives back only its own charge: ip:b had one, so two more fit before its limit.
        await f.refund(['ip:b']);
        await f.refund(['ip:b']);
        for (let i = 0; i < 3; i++) expect((await f.attempt([claim('ip:b')])).ok).toBe(true);
        expect((await f.attempt([claim('ip:b')])).ok).toBe(false);
      });

      it('a locked key stays locked whatever refunds come, and opens after its lockout', async () => {
        const f = h.state.failures;
        expect((await f.attempt([claim('k', 1)])).ok).toBe(true);
        expect((await f.attempt([claim('k', 1)])).ok).toBe(false);
        await f.refund(['k']);
        expect((await f.attempt([claim('k', 1)])).ok).toBe(false);
        await h.pass(h.ttlMs + 50);
        expect(await f.attempt([claim('k', 1)])).toEqual({ ok: true });
        expect((await f.attempt([claim('k', 1)])).ok).toBe(false);
      });

      it('holds the limit under 40 concurrent attempts', async () => {
        const results = await Promise.all(Array.from({ length: 40 }, () => h.state.failures.attempt([claim('busy', 7)])));
        expect(results.filter((r) => r.ok)).toHaveLength(7);
      });
    });

    it('warm-up take respects the cap and giveBack', async () => {
      const w = h.state.warmup;
      for (let i = 0; i < 3; i++) expect(await w.take('tx1', '2026-11-01', 3)).toBe(true);
      expect(await w.take('tx1', '2026-11-01', 3)).toBe(false);
      expect(await w.used('tx1', '2026-11-01')).toBe(3);
      await w.giveBack('tx1', '2026-11-01');
      expect(await w.used('tx1', '2026-11-01')).toBe(2);
      expect(await w.take('tx1', '2026-11-01', 3)).toBe(true);
      await w.giveBack('tx1', '2026-11-02');
      expect(await w.used('tx1', '2026-11-02')).toBe(0);
      expect(await w.take('tx2', '2026-11-01', 3)).toBe(true);
    });

    it('counts health outcomes per (source, provider)', async () => {
      const hs = h.state.health;
      for (const outcome of ['delivered', 'delivered', 'delivered', 'bounced', 'complained'] as const) {
        await hs.record('tx1', 'gmail', outcome);
      }
      await hs.record('tx1', 'yahoo', 'deferred');
      expect(await hs.counts('tx1', 'gmail', 60_000)).toEqual({ delivered: 3, deferred: 0, bounced: 1, complained: 1 });
      expect(await hs.counts('tx1', 'yahoo', 60_000)).toEqual({ delivered: 0, deferred: 1, bounced: 0, complained: 0 });
      if (backend.name === 'embedded') {
        await h.pass(2 * 3_600_000);
        expect((await hs.counts('tx1', 'gmail', 3_600_000)).delivered).toBe(0);
      }
    });

    it('sets, lifts and expires holds', async () => {
      const holds = h.state.holds;
      await holds.set({ scope: 'source:tx1', reason: 'maintenance', until: null, by: 'cli' });
      await holds.set({ scope: 'provider:gmail', reason: '4.7.28', until: h.now() + h.ttlMs, by: 'shaping' });
      expect((await holds.all()).map((x) => x.scope).sort()).toEqual(['provider:gmail', 'source:tx1']);
      await h.pass(h.ttlMs + 50);
      expect(await holds.all()).toEqual([{ scope: 'source:tx1', reason: 'maintenance', until: null, by: 'cli' }]);
      expect(await holds.lift('source:tx1')).toBe(true);
      expect(await holds.lift('source:tx1')).toBe(false);
      expect(await holds.all()).toEqual([]);
    });

    it('keeps each message\'s original sender by queue id until its TTL, across a restart', async () => {
      const senders = h.state.senders;
      await senders.record([{ queueId: '19A2B3C4D5E6F7G8H', sender: 'Bounces-123@ESP.example' }, { queueId: '19A2B3C4D5E6F7G8J', sender: 'short@x.test' }], h.ttlMs);
      await senders.record([{ queueId: '19a2b3c4d5e6f7g8k', sender: 'long@x.test' }], h.ttlMs * 20);
      expect(await senders.get('19a2b3c4d5e6f7g8h')).toBe('Bounces-123@ESP.example');
      expect(await senders.get('19A2B3C4D5E6F7G8K')).toBe('long@x.test');
      expect(await senders.get('19A2B3C4D5E6F7G8Z')).toBeNull();
      await senders.record([], h.ttlMs);
      const again = await h.restart();
      expect(await again.senders.get('19A2B3C4D5E6F7G8J')).toBe('short@x.test');
      await h.pass(h.ttlMs + 50);
      expect(await senders.get('19A2B3C4D5E6F7G8H')).toBeNull();
      expect(await again.senders.get('19A2B3C4D5E6F7G8J')).toBeNull();
      expect(await again.senders.get('19A2B3C4D5E6F7G8K')).toBe('long@x.test');
    });

    it.runIf(backend.name === 'embedded')('drops a torn last sender line and compacts lapsed entries at open', async () => {
      const dataDir = h.dataDir ?? '';
      await h.state.senders.record([{ queueId: 'AAAAAAAAAAAAAAAAA', sender: 'a@x.test' }], h.ttlMs);
      await h.state.senders.record([{ queueId: 'BBBBBBBBBBBBBBBBB', sender: 'b@x.test' }], h.ttlMs * 20);
      await h.state.close();
      await appendFile(join(dataDir, 'senders.log'), '[1,"CCCCCCCCCCCCCCCCC","c@x.te');
      await h.pass(h.ttlMs + 50);
      const again = await h.restart();
      expect(await again.senders.get('BBBBBBBBBBBBBBBBB')).toBe('b@x.test');
      expect(await again.senders.get('CCCCCCCCCCCCCCCCC')).toBeNull();
      expect((await readFile(join(dataDir, 'senders.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
    });

    it('claims a key once until its TTL, across a restart', async () => {
      const claims = h.state.claims;
      expect(await claims.claim('bounce:19A2B3C4D5E6F7G8H:a@x.test', h.ttlMs)).toBe(true);
      expect(await claims.claim('bounce:19A2B3C4D5E6F7G8H:a@x.test', h.ttlMs)).toBe(false);
      expect(await claims.claim('bounce:19A2B3C4D5E6F7G8H:b@x.test', h.ttlMs * 20)).toBe(true);
      const racing = await Promise.all(Array.from({ length: 20 }, () => claims.claim('feedback:race', h.ttlMs * 20)));
      expect(racing.filter(Boolean)).toHaveLength(1);
      const again = await h.restart();
      expect(await again.claims.claim('bounce:19A2B3C4D5E6F7G8H:a@x.test', h.ttlMs)).toBe(false);
      await h.pass(h.ttlMs + 50);
      expect(await again.claims.claim('bounce:19A2B3C4D5E6F7G8H:a@x.test', h.ttlMs)).toBe(true);
      expect(await again.claims.claim('bounce:19A2B3C4D5E6F7G8H:b@x.test', h.ttlMs)).toBe(false);
      expect(await again.claims.claim('feedback:race', h.ttlMs)).toBe(false);
    });

    it.runIf(backend.name === 'embedded')('drops a torn last claim line, compacts lapsed claims at open, forgets the oldest past its bound', async () => {
      const dataDir = h.dataDir ?? '';
      await h.state.claims.claim('short', h.ttlMs);
      await h.state.claims.claim('long', h.ttlMs * 20);
      await h.state.close();
      await appendFile(join(dataDir, 'claims.log'), '[1,"torn');
      await h.pass(h.ttlMs + 50);
      const again = await h.restart();
      expect(await again.claims.claim('long', h.ttlMs)).toBe(false);
      expect(await again.claims.claim('torn', h.ttlMs)).toBe(true);
      await again.close();
      // 'long' compacted in, 'short' lapsed, the torn line dropped; then 'torn' appended.
      expect((await readFile(join(dataDir, 'claims.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
      const clock = new FakeClock();
      const small = new EmbeddedClaims(dataDir, clock, 2);
      for (const key of ['a', 'b', 'c']) expect(await small.claim(key, 60_000)).toBe(true);
      expect(await small.claim('c', 60_000)).toBe(false);
      expect(await small.claim('a', 60_000)).toBe(true);
      await small.close();
    });

    it('tracks nodes by heartbeat', async () => {
      const nodes = h.state.nodes;
      const info = (id: string) => ({ id, address: `10.0.0.${id.length}:25`, startedAt: 1, version: '0.1.0' });
      await nodes.heartbeat(info('gw-1'), h.ttlMs);
      await nodes.heartbeat(info('gw-22'), h.ttlMs * 20);
      expect((await nodes.live()).map((n) => n.id).sort()).toEqual(['gw-1', 'gw-22']);
      await h.pass(h.ttlMs + 50);
      expect(await nodes.live()).toEqual([info('gw-22')]);
      await nodes.leave('gw-22');
      expect(await nodes.live()).toEqual([]);
    });

    it('carries a node\'s config version and the one refused on it; a heartbeat without them still reads', async () => {
      const nodes = h.state.nodes;
      const base = { address: '10.0.0.1:25', startedAt: 1, version: '0.1.0' };
      await nodes.heartbeat({ id: 'gw-1', ...base, configVersion: 3, configFailed: 4 }, h.ttlMs * 20);
      await nodes.heartbeat({ id: 'gw-2', ...base, configVersion: 0 }, h.ttlMs * 20);
      await nodes.heartbeat({ id: 'gw-3', ...base }, h.ttlMs * 20);
      const live = [...(await nodes.live())].sort((a, b) => a.id.localeCompare(b.id));
      expect(live).toEqual([{ id: 'gw-1', ...base, configVersion: 3, configFailed: 4 }, { id: 'gw-2', ...base, configVersion: 0 }, { id: 'gw-3', ...base }]);
    });

    it('keeps each node\'s last published entry counts until it leaves', async () => {
      const nodes = h.state.nodes;
      await nodes.publishShares('gw-1', { at: 1, pools: { tx: 3 } });
      await nodes.publishShares('gw-2', { at: 2, pools: { tx: 5 } });
      await nodes.publishShares('gw-1', { at: 3, pools: { tx: 4, promo: 1 } });
      expect(Object.fromEntries(await nodes.shares())).toEqual({ 'gw-1': { at: 3, pools: { tx: 4, promo: 1 } }, 'gw-2': { at: 2, pools: { tx: 5 } } });
      await nodes.leave('gw-2');
      expect([...(await nodes.shares()).keys()]).toEqual(['gw-1']);
    });
  });
});
