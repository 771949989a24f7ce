import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../gateway/observe/admin-server.js';
import { startHarness, TOKEN, captureLog, type Harness } from './admin-harness.js';
import { FakeAdminControl } from './fake-admin-control.js';
import { Registry } from 'prom-client';
import { OutcomeStats } from '../../gateway/observe/stats.js';
import { EmbeddedFailures } from '../../gateway/state/embedded/failure-store.js';
import { GuessLimiter } from '../../gateway/state/guess-limiter.js';
import { systemClock } from '../../gateway/state/types.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const PROTECTED = ['/metrics', '/api/status', '/api/sources', '/api/providers', '/api/stats', '/api/alerts', '/api/suppression/a@b.test'];

describe('admin API token', () => {
  it('answers 401 JSON without a token or with a wrong one, 200 with the right one', async () => {
    h = await startHarness();
    for (const path of PROTECTED) {
      const none = await h.request('GET', path, { token: null });
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      const wrong = await h.request('GET', path, { token: TOKEN + 'x' });
      expect(wrong.status, path).toBe(401);
      await wrong.body?.cancel();
      const right = await h.request('GET', path);
      expect(right.status, path).toBe(200);
      await right.body?.cancel();
    }
    const post = await h.request('POST', '/api/sources/a/pause', { token: null });
    expect(post.status).toBe(401);
    expect(h.control.callsTo('holdSource')).toHaveLength(0);
  });

  it('leaves /healthz, /readyz and the static dashboard open', async () => {
    h = await startHarness();
    const health = await h.request('GET', '/healthz', { token: null });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, node: 'gw-1' });
    const ready = await h.request('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    const page = await h.request('GET', '/', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/assets/dashboard/main.js">');
    // The compiled browser modules (gateway/observe/dashboard/ built into dist/): main.js and
    // every module it imports are served as JavaScript under the same CSP, revalidated by ETag.
    const main = await h.request('GET', '/assets/dashboard/main.js', { token: null });
    expect(main.status).toBe(200);
    expect(main.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(main.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(main.headers.get('cache-control')).toBe('no-cache');
    const source = await main.text();
    expect(source).toContain("addEventListener('DOMContentLoaded'");
    const imports = [...source.matchAll(/from '\.\/([a-z-]+\.js)'/g)].map((m) => m[1]);
    expect(imports).toEqual(expect.arrayContaining(['client.js', 'chart.js', 'tables.js', 'side.js', 'header.js', 'dom.js']));
    for (const name of imports) {
      const mod = await h.request('GET', `/assets/dashboard/${name}`, { token: null });
      expect(mod.status, name).toBe(200);
      expect(mod.headers.get('content-type'), name).toMatch(/^text\/javascript/);
    }
    const again = await fetch(`${h.url}/assets/dashboard/main.js`, { headers: { 'if-none-match': main.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
    const uplot = await h.request('GET', '/assets/uplot.min.js', { token: null });
    expect(uplot.status).toBe(200);
    expect((await uplot.text()).length).toBeGreaterThan(10_000);
  });

  it('answers /readyz 503 with the reasons the core gives', async () => {
    h = await startHarness({ readiness: () => ({ ready: false, reasons: ['state backend unreachable', 'draining'] }) });
    const res = await h.request('GET', '/readyz', { token: null });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, node: 'gw-1', reasons: ['state backend unreachable', 'draining'] });
  });

  it('reads the token from token_file and logs a fingerprint, never the token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-admin-'));
    const file = join(dir, 'token');
    await writeFile(file, 'from-a-file-987654\n');
    h = await startHarness({ admin: { token_file: file } });
    expect((await h.request('GET', '/api/status', { token: 'from-a-file-987654' })).status).toBe(200);
    expect((await h.request('GET', '/api/status')).status).toBe(401);
    await h.request('POST', '/api/queue/flush', { token: 'from-a-file-987654' });
    const action = h.logs.find((l) => l.msg === 'admin action');
    expect(action?.obj).toMatchObject({ remote: '127.0.0.1', method: 'POST', path: '/api/queue/flush', status: 200 });
    expect((action?.obj as { token: string }).token).toMatch(/^[0-9a-f]{8}$/);
    expect(JSON.stringify(h.logs)).not.toContain('from-a-file-987654');
    expect(h.control.callsTo('flushQueue')[0]?.args[0]).toMatch(/^admin-api 127\.0\.0\.1 token:[0-9a-f]{8}$/);
  });

  it('refuses to start without a token', async () => {
    const { log } = captureLog();
    const server = new AdminServer(
      { listen: '127.0.0.1:0' },
      {
        node: 'gw-1',
        control: new FakeAdminControl(),
        registry: new Registry(),
        readiness: () => ({ ready: true, reasons: [] }),
        stats: new OutcomeStats({ node: 'gw-1' }),
        alerts: { active: () => [], recent: () => [] },
        log,
        tokenGuesses: new GuessLimiter(new EmbeddedFailures(systemClock), 'admin', () => ({})),
      },
    );
    await expect(server.start()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('answers 429 with Retry-After after too many wrong tokens from one address, right token or not, and counts them', async () => {
    h = await startHarness({ tokenFailureLimit: 5 });
    // A guesser's requests in parallel: they share one count (charged before the comparison).
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => h?.request('GET', '/api/status', { token: `guess-${i}-0123456789` })));
    const statuses = guesses.map((r) => r?.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    const refused = guesses.find((r) => r?.status === 429);
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(((await refused?.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_ATTEMPTS');
    for (const r of guesses) await r?.body?.cancel().catch(() => undefined);
    // Locked out: the right token from the same address is refused unchecked too.
    const right = await h.request('GET', '/api/status');
    expect(right.status).toBe(429);
    await right.body?.cancel();
    const text = await h.registry.metrics();
    expect(text).toMatch(/sluice_auth_failures_total\{scope="admin"\} 5/);
    expect(text).toMatch(/sluice_auth_refused_total\{scope="admin"\} 8/);
    // Health checks stay open for the balancer.
    expect((await h.request('GET', '/healthz', { token: null })).status).toBe(200);
  });
});
