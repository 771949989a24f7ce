/**
 * The dashboard's static files, loaded once when the admin server starts: the page,
 * its script and style (dashboard-page.ts, dashboard-script.ts, kept as strings so the
 * TypeScript build carries them into dist/), and uPlot's dist files read from the
 * installed package, so nothing comes from a CDN.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from './logger.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, FAVICON_SVG } from './dashboard-page.js';
import { DASHBOARD_JS } from './dashboard-script.js';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
}

function asset(type: string, body: string | Buffer): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 16)}"`;
  return { type, body: bytes, etag };
}

/** Path → file, for GET requests that need no token (none of them holds data). */
export async function loadDashboardAssets(log: Logger): Promise<Map<string, Asset>> {
  const html = asset('text/html; charset=utf-8', DASHBOARD_HTML);
  const icon = asset('image/svg+xml', FAVICON_SVG);
  const assets = new Map<string, Asset>([
    ['/', html],
    ['/index.html', html],
    ['/assets/dashboard.js', asset('text/javascript; charset=utf-8', DASHBOARD_JS)],
    ['/assets/dashboard.css', asset('text/css; charset=utf-8', DASHBOARD_CSS)],
    ['/assets/favicon.svg', icon],
    ['/favicon.ico', icon],
  ]);
  try {
    const dist = dirname(createRequire(import.meta.url).resolve('uplot'));
    assets.set('/assets/uplot.min.js', asset('text/javascript; charset=utf-8', await readFile(join(dist, 'uPlot.iife.min.js'))));
    assets.set('/assets/uplot.min.css', asset('text/css; charset=utf-8', await readFile(join(dist, 'uPlot.min.css'))));
  } catch (err) {
    // The page still shows every table; only the chart needs uPlot.
    log.warn({ err }, 'dashboard: uPlot files not found; the send-rate chart is off');
    assets.set('/assets/uplot.min.js', asset('text/javascript; charset=utf-8', '/* uPlot missing */'));
    assets.set('/assets/uplot.min.css', asset('text/css; charset=utf-8', '/* uPlot missing */'));
  }
  return assets;
}
