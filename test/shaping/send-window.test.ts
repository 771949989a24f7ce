/**
 * The node's own sends under a rate (gateway/shaping/send-window.ts), on a fake clock:
 * whatever the lateness between token and wire and however long each send takes, send
 * m starts at least P after every send m - N or older completed, so no window of P holds
 * N + 1 arrivals (an arrival lies between a send's start and its completion).
 */
import { describe, expect, it } from 'vitest';
import { SendWindows } from '../../gateway/shaping/send-window.js';
import { FakeClock } from '../support/fake-clock.js';

interface Sent {
  readonly start: number;
  end: number;
}

/** Most sends whose [start, end] can all meet one window of `periodMs`: the arrivals a provider could count in it. */
function worstWindow(sends: readonly Sent[], periodMs: number): number {
  let worst = 0;
  for (const first of sends) {
    // A window [t, t + P) with t = first.start holds every send that starts before t + P and ends at or after t.
    const t = first.start;
    worst = Math.max(worst, sends.filter((s) => s.start < t + periodMs && s.end >= t).length);
  }
  return worst;
}

describe('send windows', () => {
  it('never lets N + 1 sends of a key meet one window of P, with sends of uneven length running side by side', async () => {
    const clock = new FakeClock();
    // The fake clock moves only when someone sleeps: waits are exact, and nothing runs on the wall clock.
    const windows = new SendWindows(clock, async (ms) => clock.advance(ms));
    const claim = { key: 'rate:a:gmail', rate: { count: 10, periodMs: 1_000 } };
    const sends: Sent[] = [];
    // Three sessions; each send takes 5 to 90 ms (a busy event loop, a slow DATA reply).
    const lengths = [5, 90, 40, 60, 7, 45, 80, 12, 30, 75];
    const session = async (n: number): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const slot = await windows.admit([claim], Number.POSITIVE_INFINITY);
        if (slot === null) throw new Error('refused without a deadline');
        const sent: Sent = { start: clock.now(), end: Number.POSITIVE_INFINITY };
        sends.push(sent);
        await Promise.resolve();
        clock.advance(lengths[(i * 3 + n) % lengths.length] ?? 1);
        sent.end = clock.now();
        slot.done();
      }
    };
    await Promise.all([session(0), session(1), session(2)]);
    expect(sends).toHaveLength(120);
    expect(worstWindow(sends, 1_000)).toBeLessThanOrEqual(10);
    // Nobody starves: 120 sends in well under twice the 12 periods they need (the model is
    // coarse: the three sessions' sends and sleeps all move one clock).
    const t0 = sends[0]?.start ?? 0;
    expect((sends[119]?.start ?? Infinity) - t0).toBeLessThan(20_000);
  });

  it('waits for a send still in flight N sends back, and gives up at the deadline', async () => {
    const clock = new FakeClock();
    const windows = new SendWindows(clock, async (ms) => clock.advance(ms));
    const claim = { key: 'k', rate: { count: 2, periodMs: 1_000 } };
    const first = await windows.admit([claim], Infinity);
    const second = await windows.admit([claim], Infinity);
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    // The first is still on the wire: the provider may count it at any moment from now.
    expect(await windows.admit([claim], clock.now() + 500)).toBeNull();
    clock.advance(100);
    first?.done();
    // Due 1 s after the first completed: not within 500 ms, within 1 s.
    expect(await windows.admit([claim], clock.now() + 500)).toBeNull();
    const start = clock.now();
    const third = await windows.admit([claim], clock.now() + 1_000);
    expect(third).not.toBeNull();
    expect(clock.now() - start).toBe(1_000);
  });

  it('counts a message under every rate it takes: the source\'s and the provider total', async () => {
    const clock = new FakeClock();
    const windows = new SendWindows(clock, async (ms) => clock.advance(ms));
    const total = { key: 'rate-total:gmail', rate: { count: 3, periodMs: 1_000 } };
    for (const source of ['a', 'b', 'c']) (await windows.admit([{ key: `rate:${source}:gmail`, rate: { count: 5, periodMs: 1_000 } }, total], Infinity))?.done();
    expect(await windows.admit([{ key: 'rate:d:gmail', rate: { count: 5, periodMs: 1_000 } }, total], clock.now() + 999)).toBeNull();
    expect(await windows.admit([{ key: 'rate:a:gmail', rate: { count: 5, periodMs: 1_000 } }], clock.now())).not.toBeNull();
  });
});
