// HoldCache: a hold set on this node is in force at once and stays in force while the
// backend is still storing it, even when a refresh reads the backend in between (the
// embedded store fsyncs holds.json before it adopts a change; Redis is a round trip).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { HoldCache } from '../../gateway/shaping/hold-cache.js';
import { EmbeddedHolds } from '../../gateway/state/embedded/hold-store.js';
import { systemClock, type Hold, type StateBackend } from '../../gateway/state/types.js';

let dir: string;
let store: EmbeddedHolds;
/** Writes wait for this gate to open: the "fsync" that has not returned yet. */
let gate: { open: () => void; wait: Promise<void> };

function newGate() {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { open, wait };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-holds-'));
  store = new EmbeddedHolds(dir, systemClock);
  gate = newGate();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function cacheOver(): HoldCache {
  const slow = {
    set: async (h: Hold) => {
      await gate.wait;
      return store.set(h);
    },
    lift: async (scope: string) => {
      await gate.wait;
      return store.lift(scope);
    },
    all: () => store.all(),
  };
  return new HoldCache({ holds: slow } as unknown as StateBackend, systemClock, () => undefined);
}

test('a refresh that reads before the hold is stored keeps the hold', async () => {
  const cache = cacheOver();
  const scope = 'source-provider:a:gmail';
  const stored = cache.set({ scope, reason: 'bounce_rate: test', until: Date.now() + 60_000, by: 'health' });
  expect(cache.held(scope)?.by).toBe('health');
  await cache.refresh(); // the backend does not hold it yet
  expect(cache.held(scope)?.by).toBe('health');
  gate.open();
  await stored;
  await cache.refresh();
  expect(cache.held(scope)?.by).toBe('health');
  expect((await store.all()).map((h) => h.scope)).toEqual([scope]);
});

test('a refresh that reads before a lift is stored does not bring the hold back', async () => {
  const scope = 'source:a';
  await store.set({ scope, reason: 'admin', until: null, by: 'ops' });
  const cache = cacheOver();
  await cache.refresh();
  expect(cache.held(scope)).not.toBeNull();
  const lifted = cache.lift(scope);
  expect(cache.held(scope)).toBeNull();
  await cache.refresh(); // the backend still has it
  expect(cache.held(scope)).toBeNull();
  gate.open();
  expect(await lifted).toBe(true);
  await cache.refresh();
  expect(cache.held(scope)).toBeNull();
});
