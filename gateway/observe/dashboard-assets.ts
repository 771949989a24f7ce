/**
 * The dashboard's static files, loaded once when the admin server starts: the page and
 * its style (dashboard-page.ts), its script (the ES modules the build compiles from
 * dashboard/ into dist/gateway/observe/dashboard/), and uPlot's dist files read from the
 * installed package, so nothing comes from a CDN.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, FAVICON_SVG } from './dashboard-page.js';

const JS = 'text/javascript; charset=utf-8';

/**
 * Where the compiled browser modules are: beside this file when it runs from dist/, or in
 * the build's output when it runs from source (vitest); null before the first build.
 */
function dashboardScriptDir(): string | null {
  const candidates = [
    fileURLToPath(new URL('./dashboard/', import.meta.url)),
    fileURLToPath(new URL('../../dist/gateway/observe/dashboard/', import.meta.url)),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'main.js'))) ?? null;
}

/** /assets/dashboard/<name>.js for each compiled module (main.js imports the others). */
async function loadDashboardScript(log: Logger, assets: Map<string, Asset>): Promise<void> {
  const dir = dashboardScriptDir();
  if (dir === null) {
    log.error({}, 'dashboard: dist/gateway/observe/dashboard/main.js not found; run `npm run build` (it compiles the browser script); the page has no script until then');
    return;
  }
  for (const name of await readdir(dir)) {
    if (name.endsWith('.js')) assets.set(`/assets/dashboard/${name}`, asset(JS, await readFile(join(dir, name))));
  }
}

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
    ['/assets/dashboard.css', asset('text/css; charset=utf-8', DASHBOARD_CSS)],
    ['/assets/favicon.svg', icon],
    ['/favicon.ico', icon],
  ]);
  await loadDashboardScript(log, assets);
  try {
    const dist = dirname(createRequire(import.meta.url).resolve('uplot'));
    assets.set('/assets/uplot.min.js', asset(JS, await readFile(join(dist, 'uPlot.iife.min.js'))));
    assets.set('/assets/uplot.min.css', asset('text/css; charset=utf-8', await readFile(join(dist, 'uPlot.min.css'))));
  } catch (err) {
    // The page still shows every table; only the chart needs uPlot.
    log.warn({ err }, 'dashboard: uPlot files not found; the send-rate chart is off');
    assets.set('/assets/uplot.min.js', asset(JS, '/* uPlot missing */'));
    assets.set('/assets/uplot.min.css', asset('text/css; charset=utf-8', '/* uPlot missing */'));
  }
  return assets;
}
