// Scheduler (queue/scheduler.ts): the retry schedule, the max_age cap, and expiry of mail
// that cannot leave its ready queue. A real DiskSpool in a temp dir and a static MX route;
// time is a FakeClock moved together with vitest's fake setTimeout (the waiting queue's and
// the expiry check's timers), so hours of schedule pass in milliseconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../gateway/config/schema.js';
import { localResponse } from '../../gateway/delivery/response.js';
import { MxResolver } from '../../gateway/delivery/mx-resolver.js';
import { Scheduler, type SessionRunner } from '../../gateway/queue/scheduler.js';
import type { Outcome } from '../../gateway/queue/types.js';
import { Router } from '../../gateway/routing/router.js';
import { ProviderTable } from '../../gateway/shaping/providers.js';
import { DiskSpool } from '../../gateway/spool/disk-spool.js';
import { FakeClock } from '../support/fake-clock.js';
import { config, envelope, recordingLog, settle } from './harness.js';

const MIN = 60_000;
let dir: string;
let stop: (() => Promise<void>) | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-sched-'));
});
afterEach(async () => {
  await stop?.();
  stop = null;
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

async function start(cfg: Config, runSession: SessionRunner) {
  const clock = new FakeClock();
  const spool = await DiskSpool.open(join(dir, 'spool'));
  const outcomes: Outcome[] = [];
  const log = recordingLog();
  // Only the timers: the dispatcher's setImmediate and the spool's file I/O stay real.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const resolver = new MxResolver({ staticRoutes: { '*': '127.0.0.1:2' }, port: 25, timeoutMs: 1_000, maxCacheTtlMs: 3_600_000, clock });
  const sched = new Scheduler({ config: cfg, spool, resolver, providers: new ProviderTable(cfg), router: new Router(cfg), clock, log, onOutcome: (o) => outcomes.push(o), runSession });
  stop = async () => {
    await sched.stop(0);
    await spool.close();
  };
  /** Moves the clock and the timers together, then lets the I/O they start finish. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await vi.advanceTimersByTimeAsync(ms);
    await settle(20);
  };
  const send = async (id: string) => {
    const e = envelope(id, clock.now());
    await spool.commit(e, Buffer.from('Subject: t\r\n\r\nhello\r\n'));
    sched.add(e);
    await settle(20);
    return e;
  };
  /** Waits (on I/O events, at most 5 s) until `n` outcomes have been reported. */
  const outcomesReach = async (n: number) => {
    const deadline = performance.now() + 5_000;
    while (outcomes.length < n && performance.now() < deadline) await settle(1);
    expect(outcomes).toHaveLength(n);
  };
  return { clock, sched, outcomes, log, advance, send, outcomesReach };
}

/** A session whose every attempt the MX answers 451. */
const alwaysDefer: SessionRunner = async (rq, sched) => {
  for (let item = rq.shift(); item; item = rq.shift()) {
    const response = localResponse(451, '4.7.1', 'try again later');
    sched.settle(item, item.rcpts.map((rcpt) => ({ rcpt, response, kind: 'deferred' as const })), { pool: rq.pool, source: 'a', sourceIp: null, provider: rq.provider.name, mx: null });
  }
};

describe('retry schedule', () => {
  it('retries after each interval of queue.retry in turn, keeps the last, and never past max_age', async () => {
    const t = await start(config({ queue: { retry: ['1m', '5m', '30m'], max_age: '1h' } }), alwaysDefer);
    const t0 = t.clock.now();
    await t.send('m1');
    await t.outcomesReach(1);
    expect(t.outcomes.map((o) => [o.kind, o.attempt, o.nextAt])).toEqual([['deferred', 1, t0 + MIN]]);
    expect(t.sched.waitingItems().map((p) => p.nextAt)).toEqual([t0 + MIN]);

    await t.advance(MIN - 1);
    expect(t.sched.waitingItems()).toHaveLength(1); // not a millisecond early: still parked
    expect(t.outcomes).toHaveLength(1);
    await t.advance(1);
    await t.outcomesReach(2);
    await t.advance(5 * MIN - 1);
    expect(t.sched.waitingItems()).toHaveLength(1);
    await t.advance(1);
    await t.outcomesReach(3);
    await t.advance(30 * MIN);
    await t.outcomesReach(4);
    expect(t.outcomes.map((o) => [o.kind, o.attempt, (o.nextAt ?? 0) - t0])).toEqual([
      ['deferred', 1, MIN],
      ['deferred', 2, MIN + 5 * MIN],
      ['deferred', 3, 6 * MIN + 30 * MIN],
      // The last interval again (30 m) would pass max_age: the last try is at max_age.
      ['deferred', 4, 60 * MIN],
    ]);
    await t.advance(24 * MIN);
    await t.outcomesReach(5);
    expect(t.outcomes.map((o) => o.kind)).toEqual(['deferred', 'deferred', 'deferred', 'deferred', 'expired']);
    expect(t.outcomes[4]).toMatchObject({ attempt: 5, response: { code: 451, enhanced: '4.7.1' } });
    expect(t.sched.depth).toBe(0);
  });
});

describe('expiry of mail that cannot leave its ready queue', () => {
  it('expires it at max_age with 4.4.7 and the reason its queue is blocked', async () => {
    const reason = 'every source of pool default is held';
    // Sessions never get a source: each one blocks its queue for 90 s and ends.
    const blocked: SessionRunner = async (rq, sched) => sched.block(rq, 1.5 * MIN, reason);
    const t = await start(config({ queue: { max_age: '10m' } }), blocked);
    await t.send('stuck');
    expect(t.sched.queues().map((q) => q.length)).toEqual([1]);
    for (let m = 0; m < 9; m++) await t.advance(MIN);
    expect(t.outcomes).toEqual([]);
    await t.advance(MIN);
    await t.outcomesReach(1);
    expect(t.outcomes.map((o) => o.kind)).toEqual(['expired']);
    expect(t.outcomes[0]?.response).toMatchObject({ code: 451, enhanced: '4.4.7', text: `waiting in the ready queue of pool default for default: ${reason}` });
    expect(t.log.lines.some((l) => typeof l.obj === 'object' && (l.obj as { event?: string }).event === 'queue_expired')).toBe(true);
  });
});

describe('postponed mail (every source at its warm-up cap)', () => {
  it('waits, deferred without an attempt counted, until the given time and not before, with nothing polling meanwhile', async () => {
    let sessions = 0;
    let capped = true;
    const midnightOf = (now: number) => (Math.floor(now / 86_400_000) + 1) * 86_400_000;
    const runner: SessionRunner = async (rq, sched) => {
      sessions++;
      if (capped) {
        sched.postpone(rq, midnightOf(Date.UTC(2026, 10, 1)), localResponse(451, '4.4.5', 'warm-up cap reached'));
        return;
      }
      for (let item = rq.shift(); item; item = rq.shift()) {
        sched.settle(item, item.rcpts.map((rcpt) => ({ rcpt, response: localResponse(250, '2.0.0', 'ok'), kind: 'delivered' as const })), { pool: rq.pool, source: 'a', sourceIp: null, provider: rq.provider.name, mx: null });
      }
    };
    // Retries every second: a queue that went back to the capped source would show at once.
    const t = await start(config({ queue: { retry: ['1s'] } }), runner);
    const midnight = midnightOf(t.clock.now());
    await t.send('m1');
    await t.send('m2');
    await t.outcomesReach(2);
    expect(t.outcomes.map((o) => [o.kind, o.attempt, o.nextAt])).toEqual([['deferred', 0, midnight], ['deferred', 0, midnight]]);
    const before = sessions;
    // Twelve hours to the millisecond before midnight, in one-minute steps: no session, no outcome.
    for (let at = t.clock.now(); at + 60_000 < midnight; at += 60_000) await t.advance(60_000);
    await t.advance(midnight - 1 - t.clock.now());
    expect(sessions).toBe(before);
    expect(t.outcomes).toHaveLength(2);
    expect(t.sched.waitingItems().map((p) => p.nextAt)).toEqual([midnight, midnight]);
    capped = false;
    await t.advance(1);
    await t.outcomesReach(4);
    expect(t.outcomes.slice(2).map((o) => o.kind)).toEqual(['delivered', 'delivered']);
  });
});
