// SourcePicker (routing/source-picker.ts): which source a pool sends through. Real embedded
// state in a temp dir (leases, warm-up counts, holds); time is a FakeClock, so warm-up days
// and hold expiries pass without sleeping.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../gateway/config/schema.js';
import { SourcePicker } from '../../gateway/routing/source-picker.js';
import type { PickResult } from '../../gateway/delivery/agent-ports.js';
import { HoldCache } from '../../gateway/shaping/hold-cache.js';
import { keys } from '../../gateway/shaping/keys.js';
import { ProviderTable, type ProviderLimits } from '../../gateway/shaping/providers.js';
import { WarmupGate, today } from '../../gateway/shaping/warmup-gate.js';
import { EmbeddedState } from '../../gateway/state/embedded/embedded-state.js';
import { FakeClock } from '../support/fake-clock.js';

const open: EmbeddedState[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

interface Setup {
  readonly picker: SourcePicker;
  readonly state: EmbeddedState;
  readonly holds: HoldCache;
  readonly warmup: WarmupGate;
  readonly clock: FakeClock;
  readonly provider: ProviderLimits;
}

async function setup(doc: Record<string, unknown>, nodeId = 'gw-1'): Promise<Setup> {
  const config: Config = configSchema.parse({ node: { id: nodeId }, ...doc });
  const dir = await mkdtemp(join(tmpdir(), 'sluice-picker-'));
  dirs.push(dir);
  const clock = new FakeClock();
  const state = new EmbeddedState({ dataDir: dir, clock });
  await state.open();
  open.push(state);
  const holds = new HoldCache(state, clock, (err) => {
    throw err;
  });
  const warmup = new WarmupGate(config, state, clock);
  const picker = new SourcePicker(config, state, holds, warmup, nodeId, 'mx.test', clock);
  const provider = new ProviderTable(config).limitsOf('gmail', 'gmail-smtp-in.l.google.com');
  return { picker, state, holds, warmup, clock, provider };
}

const SOURCES = {
  a: { ip: '127.0.0.2', ehlo: 'a.test' },
  b: { ip: '127.0.0.3', ehlo: 'b.test' },
  c: { ip: '127.0.0.4', ehlo: 'c.test' },
};
const GMAIL = { gmail: { domains: ['gmail.com'], max_connections: 1 } };

/** Picks once and gives the lease back at once: which source sent. */
async function pickAndRelease(s: Setup, pool: string): Promise<string> {
  const r = await s.picker.pick(pool, s.provider);
  if (r.kind !== 'granted') throw new Error(`expected a grant, got ${r.kind}: ${r.reason}`);
  await s.state.throttle.release(r.grant.lease);
  return r.grant.source.name;
}

function granted(r: PickResult): string {
  if (r.kind !== 'granted') throw new Error(`expected a grant, got ${r.kind}: ${r.reason}`);
  return r.grant.source.name;
}

describe('choice among sources', () => {
  it('sends through each source in proportion to its weight, in smooth round-robin order', async () => {
    const s = await setup({ sources: SOURCES, pools: { bulk: { sources: [{ source: 'a', weight: 3 }, 'b'] } }, providers: GMAIL });
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push(await pickAndRelease(s, 'bulk'));
    // nginx's smooth WRR for 3:1 never sends b twice in a row and spreads a's turns.
    expect(order).toEqual(['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
  });

  it('takes the next source when the first is at its connection limit, then waits for a lease', async () => {
    const s = await setup({ sources: SOURCES, pools: { bulk: { sources: ['a', 'b'] } }, providers: GMAIL });
    const first = await s.picker.pick('bulk', s.provider);
    const second = await s.picker.pick('bulk', s.provider);
    expect([granted(first), granted(second)].sort()).toEqual(['a', 'b']);
    const third = await s.picker.pick('bulk', s.provider);
    expect(third.kind).toBe('wait');
    if (third.kind !== 'wait') return;
    expect([...third.waitingFor].sort()).toEqual([keys.sourceConnections('a', 'gmail'), keys.sourceConnections('b', 'gmail')].sort());
    expect(third.reason).toMatch(/at its connection limit for gmail/);
    if (first.kind === 'granted') await s.state.throttle.release(first.grant.lease);
    expect(granted(await s.picker.pick('bulk', s.provider))).toBe(granted(first));
  });

  it('skips a held source, and uses it again once the hold lapses', async () => {
    const s = await setup({ sources: SOURCES, pools: { bulk: { sources: ['a', 'b'] } }, providers: GMAIL });
    await s.holds.set({ scope: keys.holdSource('a'), reason: 'blocklisted', until: s.clock.now() + 60_000, by: 'test' });
    const picked = new Set<string>();
    for (let i = 0; i < 4; i++) picked.add(await pickAndRelease(s, 'bulk'));
    expect([...picked]).toEqual(['b']);
    expect(s.picker.status('a', s.provider)).toMatchObject({ kind: 'held', why: expect.stringMatching(/^a is held \(blocklisted; until /) });
    s.clock.advance(60_000);
    for (let i = 0; i < 4; i++) picked.add(await pickAndRelease(s, 'bulk'));
    expect([...picked].sort()).toEqual(['a', 'b']);
  });

  it('skips a source held toward this provider only', async () => {
    const s = await setup({ sources: SOURCES, pools: { bulk: { sources: ['a', 'b'] } }, providers: GMAIL });
    await s.holds.set({ scope: keys.holdSourceProvider('a', 'gmail'), reason: '421 rate limited', until: null, by: 'rule' });
    for (let i = 0; i < 3; i++) expect(await pickAndRelease(s, 'bulk')).toBe('b');
    const other = new ProviderTable(configSchema.parse({})).limitsOf(null, 'mx.example.net');
    expect(s.picker.status('a', other)).toEqual({ kind: 'usable' });
  });

  it('waits, naming the hold, when every source is held; a held pool sends nothing', async () => {
    const s = await setup({ sources: SOURCES, pools: { bulk: { sources: ['a', 'b'] } }, providers: GMAIL });
    await s.holds.set({ scope: keys.holdSource('a'), reason: 'r1', until: s.clock.now() + 1_000, by: 'test' });
    await s.holds.set({ scope: keys.holdSource('b'), reason: 'r2', until: null, by: 'test' });
    const r = await s.picker.pick('bulk', s.provider);
    // Looked at again when a's hold ends (1 s), not after the 5 s recheck.
    expect(r).toMatchObject({ kind: 'wait', retryMs: 1_000, waitingFor: [] });
    await s.holds.lift(keys.holdSource('a'));
    await s.holds.lift(keys.holdSource('b'));
    await s.holds.set({ scope: keys.holdPool('bulk'), reason: 'maintenance', until: null, by: 'ops' });
    expect(await s.picker.pick('bulk', s.provider)).toMatchObject({ kind: 'wait', reason: 'pool bulk is held: maintenance' });
    expect(s.picker.poolHeld('bulk')).toBe(true);
  });

  it('never picks a source held by another node', async () => {
    const s = await setup({ sources: { ...SOURCES, b: { ...SOURCES.b, node: 'gw-2' } }, pools: { bulk: { sources: ['a', 'b'] } }, providers: GMAIL });
    for (let i = 0; i < 4; i++) expect(await pickAndRelease(s, 'bulk')).toBe('a');
    expect(s.picker.status('b', s.provider)).toEqual({ kind: 'elsewhere', why: 'b is held by node gw-2' });
    // Sessions: only this node's sources count (1 source × max_connections 1).
    expect(s.picker.maxSessions('bulk', s.provider)).toBe(1);
    // With a busy, nothing here is free; b on the other node is not an option.
    const held = await s.picker.pick('bulk', s.provider);
    expect(held.kind).toBe('granted');
    expect(await s.picker.pick('bulk', s.provider)).toMatchObject({ kind: 'wait', waitingFor: [keys.sourceConnections('a', 'gmail')] });
  });
});

describe('warm-up caps', () => {
  const warm = (extra: Record<string, unknown> = {}) => ({
    sources: { a: { ...SOURCES.a, warmup: 'new-ip' }, b: { ...SOURCES.b, warmup: 'new-ip' }, c: SOURCES.c },
    warmup: { 'new-ip': { start: '2026-11-01', daily: [2, 4] } },
    pools: { fresh: { sources: ['a', 'b'], ...extra }, warm: { sources: ['c'] } },
    providers: GMAIL,
  });

  it('skips a source at today\'s cap and waits for the next UTC day when all are capped', async () => {
    const s = await setup(warm());
    expect(today(s.clock)).toBe('2026-11-01');
    expect(await s.warmup.take('a')).toBe(true);
    expect(await s.warmup.take('a')).toBe(true);
    expect(await s.warmup.take('a')).toBe(false); // a's third message today: over its cap of 2
    for (let i = 0; i < 3; i++) expect(await pickAndRelease(s, 'fresh')).toBe('b');
    await s.warmup.take('b');
    await s.warmup.take('b');
    await s.warmup.take('b');
    const r = await s.picker.pick('fresh', s.provider);
    expect(r).toMatchObject({ kind: 'capped', until: Date.UTC(2026, 10, 2) });
    // The next day has its own budget (daily[1] = 4): both send again.
    s.clock.set(Date.UTC(2026, 10, 2, 0, 0, 1));
    const next = new Set<string>();
    for (let i = 0; i < 4; i++) next.add(await pickAndRelease(s, 'fresh'));
    expect([...next].sort()).toEqual(['a', 'b']);
  });

  it('sends through the overflow pool when every source is capped', async () => {
    const s = await setup(warm({ overflow: 'warm' }));
    for (const src of ['a', 'b']) for (let i = 0; i < 3; i++) await s.warmup.take(src);
    const r = await s.picker.pick('fresh', s.provider);
    expect(r.kind).toBe('granted');
    if (r.kind !== 'granted') return;
    expect(r.grant).toMatchObject({ source: { name: 'c' }, pool: 'warm', overflowFrom: 'fresh' });
  });
});
