import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './admin-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await h.request(method, path, body === undefined ? {} : { body });
  return { status: res.status, json: await res.json() };
}

const BY = expect.stringMatching(/^admin-api 127\.0\.0\.1 token:[0-9a-f]{8}$/);

describe('admin API actions go through the AdminControl', () => {
  it('the older routes /pause and /resume hold and lift a source, answering "paused" beside "held"', async () => {
    expect(await call('POST', '/api/sources/a/pause')).toEqual({ status: 200, json: { ok: true, source: 'a', held: true, paused: true } });
    expect(await call('POST', '/api/sources/b/pause', { reason: 'blocklisted at spamhaus' })).toMatchObject({ status: 200 });
    expect(await call('POST', '/api/sources/a/resume')).toEqual({ status: 200, json: { ok: true, source: 'a', held: false, paused: false } });
    expect(h.control.calls).toEqual([
      { method: 'holdSource', args: ['a', 'admin', BY] },
      { method: 'holdSource', args: ['b', 'blocklisted at spamhaus', BY] },
      { method: 'liftSource', args: ['a', BY] },
    ]);
    const sources = (await call('GET', '/api/sources')).json.sources as Array<{ name: string; held: unknown; paused: unknown }>;
    expect(sources.find((s) => s.name === 'b')?.held).toMatchObject({ reason: 'blocklisted at spamhaus' });
    expect(sources.find((s) => s.name === 'b')?.paused).toMatchObject({ reason: 'blocklisted at spamhaus' });
  });

  it('the older routes /pause and /resume hold and lift a pool', async () => {
    expect(await call('POST', '/api/pools/promotional/pause')).toMatchObject({ status: 200, json: { pool: 'promotional', held: true, paused: true } });
    expect(await call('POST', '/api/pools/promotional/resume')).toMatchObject({ status: 200, json: { held: false, paused: false } });
    expect(h.control.calls.map((c) => c.method)).toEqual(['holdPool', 'liftPool']);
  });

  it('the older route /suspend holds a source toward one provider for a duration', async () => {
    const r = await call('POST', '/api/sources/a/suspend', { provider: 'gmail', duration: '30m' });
    expect(r).toEqual({ status: 200, json: { ok: true, source: 'a', provider: 'gmail', held: true, duration_s: 1800 } });
    await call('POST', '/api/sources/a/suspend', { provider: 'yahoo', duration: 90, reason: 'JMRP complaints' });
    expect(h.control.callsTo('holdSourceToward').map((c) => c.args.slice(0, 4))).toEqual([
      ['a', 'gmail', 1_800_000, 'suspended by an operator'],
      ['a', 'yahoo', 90_000, 'JMRP complaints'],
    ]);
  });

  it('holds and lifts a source, a source toward one provider, and a pool (the older pause/resume/suspend routes do the same)', async () => {
    expect(await call('POST', '/api/sources/a/hold')).toEqual({ status: 200, json: { ok: true, source: 'a', held: true } });
    expect(await call('POST', '/api/sources/a/hold', { provider: 'gmail', duration: '30m', reason: 'JMRP complaints' })).toEqual({ status: 200, json: { ok: true, source: 'a', provider: 'gmail', held: true, duration_s: 1800 } });
    expect(await call('POST', '/api/sources/a/lift')).toEqual({ status: 200, json: { ok: true, source: 'a', held: false } });
    expect(await call('POST', '/api/pools/promotional/hold', { reason: 'maintenance' })).toEqual({ status: 200, json: { ok: true, pool: 'promotional', held: true } });
    expect(await call('POST', '/api/pools/promotional/lift')).toEqual({ status: 200, json: { ok: true, pool: 'promotional', held: false } });
    expect(h.control.calls).toEqual([
      { method: 'holdSource', args: ['a', 'admin', BY] },
      { method: 'holdSourceToward', args: ['a', 'gmail', 1_800_000, 'JMRP complaints', BY] },
      { method: 'liftSource', args: ['a', BY] },
      { method: 'holdPool', args: ['promotional', 'maintenance', BY] },
      { method: 'liftPool', args: ['promotional', BY] },
    ]);
  });

  it('refuses a hold of a whole source with a duration, and a hold toward a provider without one', async () => {
    expect(await call('POST', '/api/sources/a/hold', { duration: '30m' })).toMatchObject({ status: 400, json: { error: { code: 'INVALID', message: expect.stringContaining('lasts until lifted') } } });
    expect(await call('POST', '/api/sources/a/hold', { provider: 'gmail' })).toMatchObject({ status: 400, json: { error: { code: 'INVALID', message: expect.stringContaining('needs a duration') } } });
    expect((await call('POST', '/api/sources/nope/hold')).status).toBe(404);
    expect((await call('POST', '/api/pools/nope/lift')).status).toBe(404);
    // The two 400s never reached the control; the 404s are its answer for unknown names.
    expect(h.control.calls.map((c) => [c.method, c.args[0]])).toEqual([
      ['holdSource', 'nope'],
      ['liftPool', 'nope'],
    ]);
  });

  it('reads a duration as the config does: "1h30m" is 90 minutes, "90 minutes" is a 400', async () => {
    // The admin API once had its own parser that refused compound durations the config takes.
    expect(await call('POST', '/api/sources/a/hold', { provider: 'gmail', duration: '1h30m' })).toEqual({ status: 200, json: { ok: true, source: 'a', provider: 'gmail', held: true, duration_s: 5400 } });
    expect(await call('POST', '/api/sources/a/hold', { provider: 'gmail', duration: '1H' })).toMatchObject({ status: 200, json: { duration_s: 3600 } });
    expect(await call('POST', '/api/sources/a/hold', { provider: 'gmail', duration: '90 minutes' })).toMatchObject({ status: 400 });
    expect(h.control.callsTo('holdSourceToward').map((c) => c.args[2])).toEqual([5_400_000, 3_600_000]);
  });

  it('flushes the queue, reloads and drains', async () => {
    expect(await call('POST', '/api/queue/flush')).toEqual({ status: 200, json: { ok: true, flushed: 17 } });
    expect(await call('POST', '/api/reload')).toMatchObject({ status: 200, json: { ok: true, files: ['config/sluice.toml'] } });
    expect(await call('POST', '/api/drain')).toEqual({ status: 200, json: { ok: true, draining: true, since: '2026-11-01T12:00:00.000Z', queued: 1329, flushed: 17 } });
    expect(await call('POST', '/api/drain/cancel')).toEqual({ status: 200, json: { ok: true, draining: false, since: null, queued: 1329, flushed: 0 } });
    expect(h.control.calls.map((c) => c.method)).toEqual(['flushQueue', 'reload', 'drain', 'undrain']);
  });

  it('adds, checks and removes suppression entries', async () => {
    expect(await call('POST', '/api/suppression', { address: ' User@Example.COM ', reason: 'complaint' })).toEqual({
      status: 200,
      json: { ok: true, address: 'user@example.com', reason: 'complaint', added: true },
    });
    await call('POST', '/api/suppression', { address: '@blocked.test' });
    const check = await call('GET', '/api/suppression/user%40example.com');
    expect(check.json).toMatchObject({ address: 'user@example.com', suppressed: true, entry: { reason: 'complaint' } });
    expect(await call('POST', '/api/suppression/remove', { address: 'user@example.com' })).toMatchObject({ json: { removed: true } });
    expect(await call('DELETE', '/api/suppression/remove', { address: 'user@example.com' })).toMatchObject({ json: { removed: false } });
    expect(await call('DELETE', '/api/suppression/%40blocked.test')).toMatchObject({ json: { removed: true } });
    expect((await call('GET', '/api/suppression/user@example.com')).json.suppressed).toBe(false);
    expect(h.control.callsTo('addSuppression').map((c) => c.args.slice(0, 2))).toEqual([
      ['user@example.com', 'complaint'],
      ['@blocked.test', 'manual'],
    ]);
  });

  it('answers the read routes', async () => {
    const status = await call('GET', '/api/status');
    expect(status.json).toMatchObject({ node: 'gw-1', state_backend: 'redis', nodes: [{ id: 'gw-1' }, { id: 'gw-2' }, { id: 'gw-3', live: false }] });
    expect((await call('GET', '/api/providers')).json.providers).toHaveLength(3);
    const stats = await call('GET', '/api/stats?window=1m');
    expect(stats.json).toMatchObject({ node: 'gw-1', window_s: 60, totals: { delivered: 0 } });
    expect((await call('GET', '/api/alerts')).json).toEqual({ active: [], recent: [] });
  });
});

describe('admin API input checks', () => {
  it('answers 404 for an unknown source or pool, through the typed error', async () => {
    const r = await call('POST', '/api/sources/nope/pause');
    expect(r).toEqual({ status: 404, json: { error: { code: 'NOT_FOUND', message: 'unknown source "nope"' } } });
    expect((await call('POST', '/api/pools/nope/resume')).status).toBe(404);
    expect((await call('GET', '/api/nothing-here')).status).toBe(404);
  });

  it('answers 400 with a clear message for bad bodies and queries', async () => {
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/api/sources/a/suspend', { provider: 'gmail' }, /duration/],
      ['POST', '/api/sources/a/suspend', { provider: 'gmail', duration: 'soon' }, /duration: a duration such as "30m"/],
      ['POST', '/api/sources/a/suspend', { provider: 'gmail', duration: '30d' }, /at most 604800s/],
      ['POST', '/api/suppression', { address: 'not-an-address' }, /address: expected user@domain or @domain/],
      ['POST', '/api/suppression', { address: 'a@b.test', reason: 'because' }, /reason/],
      ['POST', '/api/sources/a/pause', { reason: 'x', extra: 1 }, /extra/],
      ['POST', '/api/queue/flush', { everything: true }, /everything/],
    ];
    for (const [method, path, body, message] of cases) {
      const r = await call(method, path, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.code).toBe('INVALID');
      expect(r.json.error.message).toMatch(message);
    }
    const bad = await h.request('POST', '/api/sources/a/pause', { raw: '{not json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toMatch(/not valid JSON/);
    const win = await call('GET', '/api/stats?window=2h');
    expect(win.status).toBe(400);
    expect(win.json.error.message).toMatch(/window/);
    expect(h.control.calls.filter((c) => c.method !== 'checkSuppression')).toHaveLength(0);
  });

  it('refuses bodies over 64 KB with 413 and wrong methods with 405', async () => {
    const big = await h.request('POST', '/api/suppression', { raw: JSON.stringify({ address: 'a@b.test', pad: 'x'.repeat(70_000) }) });
    expect(big.status).toBe(413);
    const wrong = await h.request('GET', '/api/drain');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(h.control.calls).toHaveLength(0);
    // The listener still answers after a refused body.
    expect((await h.request('GET', '/healthz')).status).toBe(200);
  });
});
