// ReadyQueue (queue/ready-queue.ts): FIFO per (pool, site), idle sessions woken by new work.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReadyQueue } from '../../gateway/queue/ready-queue.js';
import { ProviderTable } from '../../gateway/shaping/providers.js';
import { config, item } from './harness.js';

function queue(): ReadyQueue {
  return new ReadyQueue('k', 'bulk', 'mx.example.net', [], new ProviderTable(config()).limitsOf(null, 'mx.example.net'), 0);
}
const ids = (q: ReadyQueue) => q.snapshot().map((i) => i.envelope.id);

afterEach(() => {
  vi.useRealTimers();
});

describe('ReadyQueue', () => {
  it('hands items out first in, first out; an item put back goes first', () => {
    const q = queue();
    for (const id of ['a', 'b', 'c']) q.push(item(id, 1));
    const a = q.shift();
    expect(a?.envelope.id).toBe('a');
    if (a) q.unshift(a);
    expect(ids(q)).toEqual(['a', 'b', 'c']);
    expect(q.takeWhere((i) => i.envelope.id === 'b').map((i) => i.envelope.id)).toEqual(['b']);
    expect(ids(q)).toEqual(['a', 'c']);
    expect(q.oldestReadyAt()).toBe(1);
  });

  it('gives a new item straight to an idle session', async () => {
    const q = queue();
    const waiting = q.next(5_000);
    expect(q.idle).toBe(1);
    q.push(item('x', 1));
    expect((await waiting)?.envelope.id).toBe('x');
    expect(q.length).toBe(0);
    expect(q.idle).toBe(0);
  });

  it('lets an idle session go after its idle timeout with nothing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const q = queue();
    let got: unknown = 'pending';
    void q.next(5_000).then((v) => (got = v));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(got).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toBeNull();
    expect(q.idle).toBe(0);
    // A later item waits in the queue, not in a session that has gone.
    q.push(item('late', 1));
    expect(q.length).toBe(1);
  });
});
