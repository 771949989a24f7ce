/**
 * The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): it shows the sources with their IPs and non-zero rates, holds a
 * source with its Hold button and lifts it with Lift (through the AdminControl), and leaves a screenshot in
 * test-artifacts/dashboard.png.
 */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { OutcomeEventKind } from '../../gateway/observe/event-types.js';
import { outcomeEvent, startHarness, TOKEN, type Harness } from './admin-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');

let browser: Browser;
let h: Harness;
let offset = 0;
let feeder: NodeJS.Timeout | undefined;

/** Five minutes of synthetic traffic, written through a clock the test moves back in time. */
function backfill(harness: Harness): void {
  const now = Date.now();
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  /** A whole number of events with the given mean. */
  const draw = (mean: number) => Math.floor(mean + random());
  const mix: Array<[string, string, string, number, number, number, number]> = [
    // source, provider, pool, delivered/s, deferred/s, bounced/s, complaints/s
    ['a', 'gmail', 'transactional', 4, 0.1, 0.01, 0],
    ['a', 'yahoo', 'transactional', 1, 0, 0, 0],
    ['b', 'outlook', 'promotional', 2, 0.6, 0.2, 0.02],
    ['c', 'gmail', 'promotional', 1, 0, 0.1, 0],
  ];
  for (let s = 300; s >= 0; s--) {
    offset = -s * 1000;
    const wave = 1 + 0.35 * Math.sin(s / 40) + 0.15 * Math.sin(s / 9);
    for (const [source, provider, pool, delivered, deferred, bounced, complained] of mix) {
      const e = outcomeEvent({ source, provider, pool, class: pool, at: now - s * 1000 });
      const emit = (kind: OutcomeEventKind, n: number) => {
        for (let i = 0; i < n; i++) harness.observer.outcome(kind, e, pool === 'promotional' ? 'autumn-sale' : null);
      };
      emit('queued', draw((delivered + deferred / 3) * wave * 1.05));
      emit('delivered', draw(delivered * wave));
      emit('deferred', draw(deferred * wave));
      emit('bounced', draw(bounced));
      emit('complained', draw(complained));
    }
  }
  offset = 0;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  h = await startHarness({
    observer: {
      clock: { now: () => Date.now() + offset },
      alerts: [{ metric: 'bounce_rate', scope: 'source', threshold: 0.02, window: 300_000, min_volume: 20 }],
    },
  });
  backfill(h);
  await h.observer.alerts.evaluate();
  // Live traffic while the page is open, so the chart keeps moving.
  let tick = 0;
  feeder = setInterval(() => {
    const e = outcomeEvent({ source: ['a', 'b', 'c'][tick++ % 3] ?? 'a', at: Date.now() });
    for (let i = 0; i < 2; i++) h.observer.outcome('queued', e, null);
    for (let i = 0; i < 2; i++) h.observer.outcome('delivered', e, null);
  }, 250);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

afterAll(async () => {
  clearInterval(feeder);
  await browser?.close();
  await h?.close();
});

describe('dashboard', () => {
  it('shows sources and rates, holds and lifts a source with its Hold and Lift buttons, and renders cleanly at 1400×900', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));

    await page.goto(`${h.url}/?token=${TOKEN}`);
    await page.waitForSelector('tr[data-source="a"]');
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar

    const rows = page.locator('#sources tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    const text = await page.locator('#sources').innerText();
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) expect(text).toContain(ip);
    expect(await page.content()).toContain('127.0.0.2');

    const sentA = await page.locator('tr[data-source="a"] td[data-col="sent"]').innerText();
    expect(Number(sentA.split('\n')[0]?.replace(/[^0-9.]/g, ''))).toBeGreaterThan(0);
    const bounceB = await page.locator('tr[data-source="b"] td[data-col="bounce_rate"]').innerText();
    expect(bounceB).toMatch(/^[1-9][0-9.]*%/);
    await expect.poll(() => page.locator('.kpi .value').first().innerText()).not.toBe('0/s');
    expect(await page.locator('#providers').innerText()).toContain('outlook');
    // gmail's rate with its burst, its fleet total under it, what each keeps on hover.
    const gmailRate = page.locator('#providers td[data-col="rate"]').first();
    expect(await gmailRate.innerText()).toMatch(/50\/s, burst 5\s+total 200\/s/);
    expect(await gmailRate.getAttribute('title')).toMatch(/^per source: at most 50 in any 1s \(sliding\); 5 back to back, .*\ntotal: at most 200 in any 1s/);
    expect(await page.locator('#alerts').innerText()).toMatch(/bounce_rate of source b/);
    expect(await page.locator('#nodes').innerText()).toContain('gw-2');
    // Each live node's load from its heartbeat; a down node says since when.
    expect(await page.locator('[data-load="gw-2"]').innerText()).toBe('CPU 0.35 cores \u00b7 mem 180 MB \u00b7 lag 12.5 ms \u00b7 disk 40 GB free \u00b7 14 in / 9 out \u00b7 queue 1,234 \u00b7 48.5/s sent');
    expect(await page.locator('#nodes').innerText()).toMatch(/gw-3\s+down 1m 3\ds ago/);
    // Every node's config version from its heartbeat; gw-2's is marked: behind the newest (4), which it refused.
    expect(await page.locator('[data-config="gw-1"]').innerText()).toBe('config v4');
    expect(await page.locator('[data-config="gw-1"]').getAttribute('class')).toBe('tag');
    expect(await page.locator('[data-config="gw-2"]').innerText()).toBe('config v3');
    expect(await page.locator('[data-config="gw-2"]').getAttribute('class')).toBe('tag pct-warn');
    expect(await page.locator('[data-config-failed="gw-2"]').innerText()).toBe('config v4 refused');
    expect(await page.locator('[data-config="gw-3"]').count()).toBe(0);
    expect(await page.locator('#holds').innerText()).toMatch(/source b \u2192 outlook\s+held for a provider/); // b is held toward outlook
    expect(await page.locator('#holds li', { hasText: 'provider yahoo' }).innerText()).toMatch(/^provider yahoo\s+held for every source\s+hold_provider 4\.7\.0 \u00b7 by response-rule \u00b7 until /);
    expect(await page.locator('#holds li', { hasText: 'provider yahoo' }).locator('button').count()).toBe(0);
    // Held sources per provider: b toward outlook; yahoo held for every source (a hold_provider rule).
    expect(await page.locator('#providers tbody tr', { hasText: 'outlook' }).locator('td').last().innerText()).toMatch(/^b until \d\d:\d\d( [AP]M)?$/);
    expect(await page.locator('#providers tbody tr', { hasText: 'yahoo' }).locator('td').last().innerText()).toMatch(/^every source until \d\d:\d\d( [AP]M)?$/);
    await page.waitForSelector('#chart .uplot canvas');
    // Per-source figures say they count delivery attempts, not messages.
    expect(await page.locator('#sources thead').innerText()).toMatch(/Attempts\s+Delivered/i);
    expect(await page.locator('tr[data-source="a"] td[data-col="delivered"]').innerText()).toMatch(/%\s+[\d,]+ of [\d,]+ attempts$/);
    // The Delivering card and the chart legend beside it show the same rate (one read of both).
    const shown = await page.evaluate(() => {
      const card = document.querySelector('.kpi .value')?.textContent ?? '';
      const row = [...document.querySelectorAll('#chart .u-legend .u-series')].find((r) => r.textContent?.includes('Delivered'));
      return { card, legend: row?.querySelector('.u-value')?.textContent ?? '', dbg: document.querySelector('#chart .u-legend')?.textContent ?? 'none' };
    });
    expect(shown.card).toMatch(/\/s$/);
    expect(shown.legend, shown.dbg).toBe(shown.card);

    expect(await page.locator('tr[data-source="a"] button').innerText()).toBe('Hold');
    await page.click('tr[data-source="a"] button.hold');
    await vi.waitFor(() => expect(h.control.callsTo('holdSource')).toHaveLength(1));
    expect(h.control.callsTo('holdSource')[0]?.args.slice(0, 2)).toEqual(['a', 'held from the dashboard']);
    await page.waitForSelector('tr[data-source="a"] button.lift');
    expect(await page.locator('tr[data-source="a"] button').innerText()).toBe('Lift');
    expect(await page.locator('tr[data-source="a"]').innerText()).toContain('held');
    expect(await page.locator('#holds').innerText()).toMatch(/source a \(127\.0\.0\.2\)\s+held\s+held from the dashboard \u00b7 by admin-api .* \u00b7 until lifted/);
    await page.click('tr[data-source="a"] button.lift');
    await vi.waitFor(() => expect(h.control.callsTo('liftSource')).toHaveLength(1));
    await page.waitForSelector('tr[data-source="a"] button.hold');
    expect(await page.locator('#holds').innerText()).not.toContain('source a');
    await page.click('tr[data-source="a"] button.hold'); // held again for the screenshot
    await page.waitForSelector('tr[data-source="a"] button.lift');

    await page.waitForTimeout(2500); // one more refresh tick, so the chart has scrolled once
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('asks for the token when there is none, and again when it is refused', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${h.url}/`);
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#token', 'wrong-token');
    await page.click('#login-form button');
    await page.waitForSelector('#login-error:not([hidden])');
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('tr[data-source="c"]');
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await page.locator('tr[data-source="c"] .bar-label').innerText()).toMatch(/320 \/ 500/);
    await page.close();
  });

  it('renders the source IPs in the DOM Chromium dumps with a token in the address', async () => {
    const { stdout } = await run(CHROMIUM, [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      `--user-data-dir=${await mkdtemp(join(tmpdir(), 'sluice-chrome-'))}`,
      '--virtual-time-budget=8000',
      '--dump-dom',
      `${h.url}/?token=${TOKEN}`,
    ]);
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) expect(stdout).toContain(ip);
  });
});
