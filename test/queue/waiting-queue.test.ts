// The waiting queue (queue/waiting-queue.ts over queue/heap.ts): parked items come back in
// next-attempt order, each only once the FakeClock has reached its time.
import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../gateway/queue/heap.js';
import type { Parked } from '../../gateway/queue/types.js';
import { WaitingQueue } from '../../gateway/queue/waiting-queue.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { envelope, settle } from './harness.js';

describe('MinHeap', () => {
  it('pops in key order whatever the push order, also after a filter', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 1000;
    const keys = Array.from({ length: 200 }, rand);
    const heap = new MinHeap<number>((n) => n);
    for (const k of keys) heap.push(k);
    const removed = heap.filter((n) => n % 3 !== 0);
    expect(removed.sort((a, b) => a - b)).toEqual(keys.filter((n) => n % 3 === 0).sort((a, b) => a - b));
    const out: number[] = [];
    for (let n = heap.pop(); n !== undefined; n = heap.pop()) out.push(n);
    expect(out).toEqual(keys.filter((n) => n % 3 !== 0).sort((a, b) => a - b));
    expect(heap.size).toBe(0);
  });
});

function setup() {
  const clock = new FakeClock();
  const t0 = clock.now();
  const stored = new Map<string, Envelope>();
  const due: string[] = [];
  const unreadable: string[] = [];
  const q = new WaitingQueue({
    spool: {
      readEnvelope: async (id) => {
        const e = stored.get(id);
        if (!e) throw new Error(`no message ${id}`);
        return e;
      },
    },
    clock,
    due: (p) => due.push(p.id),
    unreadable: (p) => unreadable.push(p.id),
  });
  const park = (id: string, at: number, keep = true) => {
    if (keep) stored.set(id, envelope(id, t0));
    const p: Parked = { id, rcpts: [`${id}@example.net`], attempts: 1, nextAt: at, receivedAt: t0, pool: 'bulk', provider: 'gmail' };
    q.park(p);
  };
  return { clock, t0, q, due, unreadable, park };
}

describe('WaitingQueue', () => {
  it('releases each item only once the clock reaches its next attempt, earliest first', async () => {
    const w = setup();
    w.park('c', w.t0 + 3_000);
    w.park('a', w.t0 + 1_000);
    w.park('b', w.t0 + 2_000);
    w.q.release();
    await settle();
    expect(w.due).toEqual([]);
    w.clock.advance(999);
    w.q.release();
    await settle();
    expect(w.due).toEqual([]);
    w.clock.advance(1);
    w.q.release();
    await settle();
    expect(w.due).toEqual(['a']);
    w.clock.advance(2_000);
    w.q.release();
    await settle();
    expect(w.due).toEqual(['a', 'b', 'c']);
    expect(w.q.size).toBe(0);
  });

  it('releases nothing while held (recovery, shutdown), and what is due on resume', async () => {
    const w = setup();
    w.q.hold();
    w.park('a', w.t0);
    await settle();
    expect(w.due).toEqual([]);
    w.q.resume();
    await settle();
    expect(w.due).toEqual(['a']);
  });

  it('makes everything due now on flush', async () => {
    const w = setup();
    w.park('a', w.t0 + 3_600_000);
    w.park('b', w.t0 + 7_200_000);
    expect(w.q.flush()).toBe(2);
    await settle();
    expect(w.due.sort()).toEqual(['a', 'b']);
    w.q.hold();
  });

  it('hands an item whose envelope cannot be read to unreadable', async () => {
    const w = setup();
    w.park('gone', w.t0, false);
    await settle();
    expect(w.unreadable).toEqual(['gone']);
    expect(w.due).toEqual([]);
  });
});
