/**
 * The dashboard's entry module, served as /assets/dashboard/main.js: the refresh loop and
 * the page's controls. It polls the JSON API every 2 s with the bearer header and renders
 * every value with textContent (nothing from the API is parsed as HTML); the sections are
 * drawn by header.ts, chart.ts, tables.ts and side.ts.
 */
import type { DashboardData } from './api-types.js';
import { api, AuthError, banner, errorText, forgetToken, saveToken, showLogin, state, takeToken } from './client.js';
import { renderChart } from './chart.js';
import { $, byId, type Act } from './dom.js';
import { renderCluster, renderKpis } from './header.js';
import { renderAlerts, renderHolds, renderNodes, renderQueue } from './side.js';
import { renderProviders, renderSources } from './tables.js';

const REFRESH_MS = 2000;

/** One section that throws leaves the others drawn. */
function section(name: string, draw: () => void): void {
  try {
    draw();
  } catch (e) {
    console.error(name, e);
  }
}

function render(d: DashboardData): void {
  const { status, stats, alerts } = d;
  if (status) section('cluster', () => renderCluster(d));
  section('kpis', () => renderKpis(d));
  if (stats) section('chart', () => renderChart(stats));
  if (d.sources) section('sources', () => renderSources(d, act));
  if (d.providers) section('providers', () => renderProviders(d));
  if (status) section('nodes', () => renderNodes(status));
  if (status) section('queue', () => renderQueue(status));
  if (d.sources || status || d.providers) section('holds', () => renderHolds(d, act));
  if (alerts) section('alerts', () => renderAlerts(alerts));
}

async function load(): Promise<{ data: DashboardData; errors: string[]; refused: boolean }> {
  const results = await Promise.allSettled([
    api<DashboardData['status']>('GET', '/api/status'),
    api<DashboardData['sources']>('GET', '/api/sources'),
    api<DashboardData['providers']>('GET', '/api/providers'),
    api<DashboardData['stats']>('GET', `/api/stats?window=${state.window}`),
    api<DashboardData['alerts']>('GET', '/api/alerts'),
  ]);
  const [status, sources, providers, stats, alerts] = results;
  const data: DashboardData = {};
  const errors: string[] = [];
  const take = <T>(name: string, r: PromiseSettledResult<T>, put: (v: T) => void) => {
    if (r.status === 'fulfilled') put(r.value);
    else errors.push(`${name}: ${errorText(r.reason)}`);
  };
  take('status', status, (v) => { if (v) data.status = v; });
  take('sources', sources, (v) => { if (v) data.sources = v; });
  take('providers', providers, (v) => { if (v) data.providers = v; });
  take('stats', stats, (v) => { if (v) data.stats = v; });
  take('alerts', alerts, (v) => { if (v) data.alerts = v; });
  const refused = results.some((r) => r.status === 'rejected' && r.reason instanceof AuthError);
  return { data, errors, refused };
}

async function refresh(): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  try {
    const { data, errors, refused } = await load();
    if (refused) {
      forgetToken();
      showLogin('The token was refused.');
      return;
    }
    render(data);
    banner(errors.length ? `Some data could not be loaded (${errors.join('; ')})` : null);
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } finally {
    state.busy = false;
    if (state.token) {
      if (state.timer) clearTimeout(state.timer);
      state.timer = window.setTimeout(() => void refresh(), REFRESH_MS);
    }
  }
}

/** A button's admin action: disabled while in flight, the outcome in the banner, then a refresh. */
const act: Act = async (button, path, body) => {
  button.disabled = true;
  try {
    await api('POST', path, body);
    banner(null);
  } catch (e) {
    if (e instanceof AuthError) {
      showLogin('The token was refused.');
      return;
    }
    banner(`Action failed: ${errorText(e)}`);
  } finally {
    button.disabled = false;
  }
  await refresh();
};

function start(): void {
  $('login').hidden = true;
  void refresh();
}

document.addEventListener('DOMContentLoaded', () => {
  takeToken();
  const picker = byId('window', HTMLSelectElement);
  picker.addEventListener('change', () => {
    state.window = picker.value;
    void refresh();
  });
  $('logout').addEventListener('click', () => {
    forgetToken();
    showLogin(null);
  });
  byId('login-form', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    const input = byId('token', HTMLInputElement);
    const t = input.value.trim();
    if (!t) return;
    saveToken(t);
    input.value = '';
    start();
  });
  if (state.token) start();
  else showLogin(null);
});
