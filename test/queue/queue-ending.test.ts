// A bounce or cancel in turns of the event loop (gateway/queue/queue-ending.ts): each
// recipient ended once, at most TURN_RECIPIENTS a turn, at most DSN_WINDOW DSNs under way,
// and what a stop or an unreadable envelope leaves goes back to the queue.
import { describe, expect, it } from 'vitest';
import { DSN_WINDOW, endInTurns, TURN_RECIPIENTS, type EndingDeps, type Work } from '../../gateway/queue/queue-ending.js';
import type { Parked } from '../../gateway/queue/types.js';
import { envelope } from './harness.js';

function parked(i: number, rcpts = 10, domain = 'big.test'): Parked {
  return { id: `M${i}`, rcpts: Array.from({ length: rcpts }, (_, k) => `u${i}-${k}@${domain}`), attempts: 1, nextAt: 0, receivedAt: 0, pool: 'p', provider: 'x' };
}

function harness(over: Partial<EndingDeps> = {}) {
  const ended: string[] = [];
  const putBack: Work[] = [];
  let dsns = 0;
  let maxDsns = 0;
  const deps: EndingDeps = {
    readEnvelope: async (id) => envelope(id, 0),
    end: (item, rcpt) => {
      ended.push(rcpt);
      item.rcpts = item.rcpts.filter((r) => r !== rcpt);
      if (item.rcpts.length > 0) return undefined;
      dsns++;
      maxDsns = Math.max(maxDsns, dsns);
      return new Promise<void>((r) => setTimeout(r, 2)).then(() => void dsns--);
    },
    unreadable: () => undefined,
    stopped: () => false,
    putBack: (w) => void putBack.push(w),
    ...over,
  };
  return { deps, ended, putBack, maxDsns: () => maxDsns };
}

describe('endInTurns', () => {
  it('ends each recipient once, a few per turn, with a bounded number of DSNs under way', async () => {
    const h = harness();
    // Count turns by setImmediate callbacks queued behind the run's own.
    let turns = 0;
    const counting = { on: true };
    const tick = () => {
      turns++;
      if (counting.on) setImmediate(tick);
    };
    setImmediate(tick);
    const work: Work[] = Array.from({ length: 200 }, (_, i) => ({ kind: 'parked', parked: parked(i) }));
    const report = await endInTurns(work, h.deps);
    counting.on = false;
    expect(report).toEqual({ ended: 2000, left: 0 });
    expect(new Set(h.ended).size).toBe(2000);
    expect(h.maxDsns()).toBeLessThanOrEqual(DSN_WINDOW);
    // 2 000 recipients at most TURN_RECIPIENTS a turn: the loop turned at least that many times.
    expect(turns).toBeGreaterThanOrEqual(2000 / TURN_RECIPIENTS);
  });

  it('a stop puts back what it has not ended, untouched, and reports it left', async () => {
    let calls = 0;
    const h = harness({ stopped: () => ++calls > 3 });
    const work: Work[] = Array.from({ length: 100 }, (_, i) => ({ kind: 'parked', parked: parked(i) }));
    const report = await endInTurns(work, h.deps);
    expect(report.ended + report.left).toBe(1000);
    expect(report.ended).toBe(3 * TURN_RECIPIENTS);
    const back = h.putBack.map((w) => (w.kind === 'parked' ? w.parked.id : w.item.envelope.id));
    expect(back).toHaveLength(100 - (3 * TURN_RECIPIENTS) / 10);
    // Nothing both ended and put back.
    const endedIds = new Set(h.ended.map((r) => `M${r.slice(1, r.indexOf('-'))}`));
    expect(back.filter((id) => endedIds.has(id))).toEqual([]);
  });

  it('an envelope that cannot be read leaves its item queued, reported left, never ended', async () => {
    const unreadable: string[] = [];
    const h = harness({
      readEnvelope: async (id) => {
        if (id === 'M7') throw new Error('EIO');
        return envelope(id, 0);
      },
      unreadable: (p) => void unreadable.push(p.id),
    });
    const report = await endInTurns(Array.from({ length: 20 }, (_, i) => ({ kind: 'parked', parked: parked(i) }) as Work), h.deps);
    expect(report).toEqual({ ended: 190, left: 10 });
    expect(unreadable).toEqual(['M7']);
    expect(h.ended.some((r) => r.startsWith('u7-'))).toBe(false);
  });

  it('keeps the items of one message in one turn, so that its recipients make one DSN', async () => {
    const h = harness();
    let tick = 0;
    let on = true;
    const step = () => {
      tick++;
      if (on) setImmediate(step);
    };
    setImmediate(step);
    const ticks = new Map<string, number>();
    const end = h.deps.end;
    h.deps = { ...h.deps, end: (item, rcpt) => (ticks.set(rcpt, tick), end(item, rcpt)) };
    // 40 + 5 + 10 recipients: the third item passes TURN_RECIPIENTS but is the second's message.
    const work: Work[] = [parked(0, 40), parked(1, 5, 'a.test'), parked(1, 10, 'b.test'), parked(2, 10)].map((p) => ({ kind: 'parked', parked: p }));
    await endInTurns(work, h.deps);
    on = false;
    const of = (prefix: string) => new Set([...ticks].filter(([r]) => r.startsWith(prefix)).map(([, t]) => t));
    expect(of('u1-').size).toBe(1);
    expect(of('u0-')).toEqual(of('u1-'));
    expect([...of('u2-')][0]).toBeGreaterThan([...of('u1-')][0] as number);
  });

  it('with `before` (a bounce commits the DSN first): a message is ended only after its before resolved, once for all its items; one that fails goes back untouched', async () => {
    const h = harness();
    const order: string[] = [];
    const end = h.deps.end;
    h.deps = {
      ...h.deps,
      end: (item, rcpt) => (order.push(`end ${item.envelope.id}`), end(item, rcpt)),
      before: async (items) => {
        const id = items[0]?.envelope.id ?? '';
        order.push(`before ${id} ${items.flatMap((i) => i.rcpts).length}`);
        await new Promise((r) => setTimeout(r, 1));
        if (id === 'M2') throw new Error('disk full');
        order.push(`committed ${id}`);
      },
    };
    const work: Work[] = [parked(0, 4), parked(1, 3, 'a.test'), parked(1, 2, 'b.test'), parked(2, 5), parked(3, 1)].map((p) => ({ kind: 'parked', parked: p }));
    const report = await endInTurns(work, h.deps);
    expect(report).toEqual({ ended: 10, left: 5 });
    // One before per message, naming all its items' recipients; its ends only after it committed.
    expect(order.filter((x) => x.startsWith('before'))).toEqual(['before M0 4', 'before M1 5', 'before M2 5', 'before M3 1']);
    for (const id of ['M0', 'M1', 'M3']) expect(order.indexOf(`committed ${id}`)).toBeLessThan(order.indexOf(`end ${id}`));
    expect(order).not.toContain('end M2');
    expect(h.putBack.map((w) => (w.kind === 'parked' ? w.parked.id : ''))).toEqual(['M2']);
    expect(h.ended.filter((r) => r.startsWith('u2-'))).toEqual([]);
  });
});
