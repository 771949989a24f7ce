/**
 * Hold scopes are built and parsed in one module (shaping/keys.ts): admin control sees
 * holds by target, and the scope strings in the hold store stay what they were.
 */
import { describe, expect, it } from 'vitest';
import { holdScope, holdsByTarget, parseHoldScope } from '../../gateway/shaping/keys.js';
import type { Hold, HoldTarget } from '../../gateway/state/types.js';

describe('hold scopes', () => {
  const targets: HoldTarget[] = [
    { kind: 'source', source: 'tx1' },
    { kind: 'pool', pool: 'promo' },
    { kind: 'source-provider', source: 'tx1', provider: 'gmail' },
    { kind: 'provider', provider: 'outlook' },
  ];

  it('writes the scope strings the hold store has always used, and reads them back', () => {
    expect(targets.map(holdScope)).toEqual(['source:tx1', 'pool:promo', 'source-provider:tx1:gmail', 'provider:outlook']);
    for (const t of targets) expect(parseHoldScope(holdScope(t))).toEqual(t);
  });

  it('keeps a provider name with a colon whole, and refuses scopes it does not know', () => {
    expect(parseHoldScope('source-provider:tx1:site:mx.example')).toEqual({ kind: 'source-provider', source: 'tx1', provider: 'site:mx.example' });
    expect(parseHoldScope('nonsense')).toBeNull();
    expect(parseHoldScope('campaign:x')).toBeNull();
    expect(parseHoldScope('source-provider:tx1')).toBeNull();
  });

  it('sets, lists and lifts holds by target over a scope-keyed cache', async () => {
    const store = new Map<string, Hold>();
    const cache = {
      held: (scope: string) => store.get(scope) ?? null,
      all: () => [...store.values()],
      set: async (hold: Hold) => void store.set(hold.scope, hold),
      lift: async (scope: string) => store.delete(scope),
    };
    const holds = holdsByTarget(cache);
    await holds.set({ kind: 'source-provider', source: 'tx1', provider: 'gmail' }, { reason: 'rule', until: 5, by: 'ops' });
    await holds.set({ kind: 'pool', pool: 'promo' }, { reason: 'x', until: null, by: 'ops' });
    expect([...store.keys()].sort()).toEqual(['pool:promo', 'source-provider:tx1:gmail']);
    expect(holds.held({ kind: 'pool', pool: 'promo' })?.reason).toBe('x');
    expect(holds.all().map((h) => h.target).sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'pool', pool: 'promo' },
      { kind: 'source-provider', source: 'tx1', provider: 'gmail' },
    ]);
    expect(await holds.lift({ kind: 'pool', pool: 'promo' })).toBe(true);
    expect(holds.held({ kind: 'pool', pool: 'promo' })).toBeNull();
  });
});
