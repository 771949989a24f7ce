// Dispatcher (queue/dispatch.ts): which ready queue gets a session, how many at once, and
// when a blocked queue tries again. Time is a FakeClock: blocks and ageing are decided by
// clock.now(), so moving the clock is what lets a blocked queue start.
import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../../gateway/queue/dispatch.js';
import type { ReadyQueue } from '../../gateway/queue/ready-queue.js';
import type { QueueItem } from '../../gateway/queue/types.js';
import { ProviderTable } from '../../gateway/shaping/providers.js';
import { FakeClock } from '../support/fake-clock.js';
import { config, item, recordingLog, settle } from './harness.js';

interface Running {
  readonly queue: string;
  readonly item: QueueItem | null;
  end(): void;
}

function setup(opts: { maxConnections?: number; perQueue?: number; ageing?: string } = {}) {
  const clock = new FakeClock();
  const cfg = config({ delivery: { max_connections: opts.maxConnections ?? 500 }, queue: { ageing: opts.ageing ?? '1m' } });
  const running: Running[] = [];
  const started: string[] = [];
  const d: Dispatcher = new Dispatcher({
    clock,
    log: recordingLog(),
    config: () => cfg,
    maxSessions: () => opts.perQueue ?? 10,
    // A session takes one item, asks for another session as a real one does once it has
    // connected, and runs until the test ends it.
    run: (rq) =>
      new Promise<void>((resolve) => {
        const taken = rq.shift();
        started.push(rq.pool);
        running.push({ queue: rq.pool, item: taken, end: resolve });
        d.pump();
      }),
  });
  const limits = new ProviderTable(cfg).limitsOf(null, 'mx.example.net');
  const queue = (pool: string, priority = 0): ReadyQueue => d.queueFor(`${pool}\u0000mx.example.net\u0000${priority}`, pool, 'mx.example.net', [], limits, priority);
  const fill = (rq: ReadyQueue, n: number, readyAt = clock.now()) => {
    for (let i = 0; i < n; i++) rq.push(item(`${rq.pool}-${i}`, readyAt));
  };
  const endOne = async (pool: string) => {
    const i = running.findIndex((r) => r.queue === pool);
    if (i < 0) throw new Error(`no session of ${pool} runs`);
    running.splice(i, 1)[0]?.end();
    await settle();
  };
  return { clock, d, running, started, queue, fill, endOne };
}

describe('sessions per queue and per node', () => {
  it('runs at most maxSessions sessions for one site, and starts the next when one ends', async () => {
    const t = setup({ perQueue: 2 });
    const rq = t.queue('bulk');
    t.fill(rq, 5);
    t.d.pump();
    await settle();
    expect(t.running).toHaveLength(2);
    expect(rq.sessions).toBe(2);
    expect(rq.length).toBe(3);
    await t.endOne('bulk');
    expect(t.running).toHaveLength(2);
    expect(rq.length).toBe(2);
  });

  it('opens no more sessions than there are items', async () => {
    const t = setup({ perQueue: 5 });
    const rq = t.queue('bulk');
    t.fill(rq, 1);
    t.d.pump();
    await settle();
    expect(t.running).toHaveLength(1);
    expect(rq.sessions).toBe(1);
  });

  it('keeps to the node\'s max_connections across sites, serving the higher priority first', async () => {
    const t = setup({ maxConnections: 1 });
    const low = t.queue('promotional', 0);
    const high = t.queue('transactional', 5);
    t.fill(low, 2);
    t.fill(high, 2);
    t.d.pump();
    await settle();
    expect(t.started).toEqual(['transactional']);
    await t.endOne('transactional');
    await t.endOne('transactional');
    expect(t.started).toEqual(['transactional', 'transactional', 'promotional']);
  });

  it('lets a lower priority that went unserved for a while (ageing) go before fresh mail', async () => {
    const t = setup({ maxConnections: 1, ageing: '1m' });
    const low = t.queue('promotional', 0);
    t.fill(low, 1, t.clock.now());
    // Three ageing steps unserved: effective priority 0 + 3 > 2.
    t.clock.advance(3 * 60_000);
    const high = t.queue('transactional', 2);
    t.fill(high, 1);
    t.d.pump();
    await settle();
    expect(t.started).toEqual(['promotional']);
  });

  it('does not let a queue that has just aged one step overtake a higher priority', async () => {
    const t = setup({ maxConnections: 1, ageing: '1m' });
    const low = t.queue('promotional', 0);
    t.fill(low, 1, t.clock.now());
    t.clock.advance(60_000);
    t.fill(t.queue('transactional', 2), 1);
    t.d.pump();
    await settle();
    expect(t.started).toEqual(['transactional']);
  });
});

describe('blocked queues', () => {
  it('starts no session before the block ends on the clock, and one as soon as it has', async () => {
    const t = setup();
    const rq = t.queue('bulk');
    t.fill(rq, 1);
    t.d.block(rq, 5_000, 'every source is held');
    t.d.pump();
    await settle();
    expect(t.running).toHaveLength(0);
    expect(rq.blockedReason).toBe('every source is held');
    t.clock.advance(4_999);
    t.d.pump();
    await settle();
    expect(t.running).toHaveLength(0);
    t.clock.advance(1);
    t.d.pump();
    await settle();
    expect(t.running).toHaveLength(1);
  });

  it('wakes a queue waiting for a lease the moment that lease is released, not at its retry time', async () => {
    const t = setup();
    const rq = t.queue('bulk');
    t.fill(rq, 1);
    t.d.block(rq, 60_000, 'a is at its connection limit', ['conn:a:gmail']);
    t.d.released(['conn:b:gmail']);
    await settle();
    expect(t.running).toHaveLength(0);
    t.d.released(['conn:a:gmail']);
    await settle();
    expect(t.running).toHaveLength(1);
  });

  it('asks a session to give way to a more urgent queue waiting for a lease it holds, once per grace period', async () => {
    const t = setup();
    const low = t.queue('promotional', 0);
    const high = t.queue('transactional', 5);
    t.fill(low, 2);
    t.fill(high, 1);
    t.d.block(high, 60_000, 'source a is busy', ['conn:a:gmail']);
    expect(t.d.shouldYield(low, ['conn:b:gmail'])).toBe(false);
    expect(t.d.shouldYield(low, ['conn:a:gmail'])).toBe(true);
    // The same waiter does not make every session give way at once.
    expect(t.d.shouldYield(low, ['conn:a:gmail'])).toBe(false);
    t.clock.advance(2_000);
    expect(t.d.shouldYield(low, ['conn:a:gmail'])).toBe(true);
    // Never to a less urgent queue.
    expect(t.d.shouldYield(high, ['conn:a:gmail'])).toBe(false);
  });
});
