// At the warm-up cap with no overflow pool, mail waits for the next UTC day: deferred,
// never bounced, one warmup_exhausted event, and nothing polls meanwhile (the items sit
// in the waiting heap until midnight UTC instead of spinning on the ready queue).
import { expect, test } from 'vitest';
import { oneEach, providerZone, raw, recipients, submit, useShaping } from './harness.js';

const today = new Date().toISOString().slice(0, 10);

const shaping = useShaping({
  mx: { host: '127.0.0.49' },
  zone: providerZone('cap.test', 5, 'mx.cap.test', '127.0.0.49'),
  config: {
    queue: { retry: ['1s'] },
    sources: { new1: { ip: '127.0.0.50', warmup: 'gentle' } },
    pools: { transactional: { sources: ['new1'] } },
    warmup: { gentle: { start: raw(today), daily: [4, 20] } },
  },
});

test('capped mail is deferred until the next UTC day and the queue does not spin', async () => {
  const { mx, gw } = shaping;
  await submit(gw.port, oneEach(recipients('c', 10, 'cap.test', 5)));
  await mx.waitFor(4, 10_000);
  await gw.waitForEvent('queue_postponed');
  // All six wait in the heap. That nothing polls them until midnight (no session, no
  // second deferral over hours of clock) is test/queue/scheduler.test.ts's postpone test,
  // on a fake clock; here the node must have put them there, parked until midnight.
  await expect.poll(() => gw.node.scheduler.waitingItems().length, { timeout: 10_000 }).toBe(6);
  expect(mx.messages).toHaveLength(4);
  expect(gw.events('warmup_exhausted')).toEqual([expect.objectContaining({ source: 'new1', cap: 4, day: today })]);
  expect(gw.events('bounced')).toHaveLength(0);
  const deferred = gw.events('deferred');
  expect(deferred.length).toBeGreaterThanOrEqual(6);
  const midnight = new Date(`${today}T00:00:00Z`).getTime() + 86_400_000;
  for (const d of deferred) {
    expect(String(d['reply'])).toMatch(/^451 4\.4\.5 warm-up cap reached/);
    expect(Date.parse(String(d['next_attempt']))).toBe(midnight);
  }
  // Every waiting item is parked until midnight; no ready queue holds work.
  const sched = gw.node.scheduler;
  expect(sched.waitingItems().length).toBe(6);
  expect(sched.waitingItems().every((i) => i.nextAt === midnight)).toBe(true);
  expect(sched.queues().every((q) => q.length === 0)).toBe(true);
});
