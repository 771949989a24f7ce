// "Seen before?" for the bounce and feedback intakes: fleet-wide through the claim-once
// store, this node's memory in front of it, and alone while the store does not answer
// (logged once per outage): a report is never dropped because the store failed.
import { expect, test } from 'vitest';
import { SeenOnce } from '../../gateway/bounce/seen-once.js';
import { SluiceError } from '../../gateway/errors.js';
import type { ClaimStore } from '../../gateway/state/types.js';
import { FakeClock } from '../support/fake-clock.js';

/** One store two nodes share, in memory; `fail` makes it answer as Redis away does. */
function fleetClaims(clock: FakeClock): ClaimStore & { fail: boolean; calls: string[] } {
  const until = new Map<string, number>();
  const s = {
    fail: false,
    calls: [] as string[],
    claim: async (key: string, ttlMs: number) => {
      s.calls.push(key);
      if (s.fail) throw new SluiceError('STATE_UNAVAILABLE', 'redis away');
      const at = until.get(key);
      if (at !== undefined && at > clock.now()) return false;
      until.set(key, clock.now() + ttlMs);
      return true;
    },
  };
  return s;
}

function recordingLog(): { lines: { level: string; event: unknown }[]; debug(): void; info(o: object | string): void; warn(o: object | string): void; error(o: object | string): void } {
  const lines: { level: string; event: unknown }[] = [];
  const at = (level: string) => (o: object | string) => lines.push({ level, event: typeof o === 'string' ? o : (o as { event?: unknown }).event });
  return { lines, debug: () => undefined, info: at('info'), warn: at('warn'), error: at('error') };
}

test('the same key counts once across two nodes, and again after its TTL', async () => {
  const clock = new FakeClock();
  const claims = fleetClaims(clock);
  const node = () => new SeenOnce({ claims, what: 'bounce', ttlMs: 1_000, max: 100, clock, log: recordingLog() });
  const [a, b] = [node(), node()];
  expect(await a.first('Q1\u0000x@y.test')).toBe(true);
  expect(await b.first('Q1\u0000x@y.test')).toBe(false);
  expect(await a.first('Q1\u0000x@y.test')).toBe(false);
  expect(await b.first('Q1\u0000z@y.test')).toBe(true);
  // Keys are hashed and prefixed: no address reaches the store.
  expect(claims.calls.every((k) => /^bounce:[\w-]{22}$/.test(k))).toBe(true);
  clock.advance(1_001);
  expect(await b.first('Q1\u0000x@y.test')).toBe(true);
});

test('a repeat this node saw itself is answered from memory, without the store', async () => {
  const clock = new FakeClock();
  const claims = fleetClaims(clock);
  const seen = new SeenOnce({ claims, what: 'feedback', ttlMs: 1_000, max: 100, clock, log: recordingLog() });
  expect(await Promise.all([seen.first('k'), seen.first('k')])).toEqual([true, false]);
  expect(claims.calls).toHaveLength(1);
});

test('while the store fails: checked in this node\'s memory, logged once, never dropped; fleet-wide again once it answers', async () => {
  const clock = new FakeClock();
  const claims = fleetClaims(clock);
  const log = recordingLog();
  const seen = new SeenOnce({ claims, what: 'bounce', ttlMs: 1_000, max: 100, clock, log });
  claims.fail = true;
  expect(await seen.first('a')).toBe(true);
  expect(await seen.first('b')).toBe(true);
  expect(await seen.first('a')).toBe(false);
  expect(log.lines).toEqual([{ level: 'warn', event: 'bounce_duplicates_local' }]);
  claims.fail = false;
  expect(await seen.first('c')).toBe(true);
  expect(log.lines.map((l) => l.event)).toEqual(['bounce_duplicates_local', 'bounce_duplicates_shared']);
  claims.fail = true;
  expect(await seen.first('d')).toBe(true);
  expect(log.lines.map((l) => l.event)).toEqual(['bounce_duplicates_local', 'bounce_duplicates_shared', 'bounce_duplicates_local']);
});

test('this node\'s memory is bounded: past `max` the oldest key is forgotten', async () => {
  const clock = new FakeClock();
  const seen = new SeenOnce({ claims: null, what: 'bounce', ttlMs: 1_000, max: 2, clock, log: recordingLog() });
  for (const k of ['a', 'b', 'c']) expect(await seen.first(k)).toBe(true);
  expect(await seen.first('c')).toBe(false);
  expect(await seen.first('a')).toBe(true);
});
