/**
 * The dashboard's browser script, served as /assets/dashboard.js: this file holds the
 * token handling, the API calls and the refresh loop; dashboard-render.ts draws the
 * sections. Plain ES2020 in strings (no backticks inside) so the TypeScript build
 * carries them into dist/; the browser test in test/observe runs them in Chromium.
 *
 * It takes the token once (login form or `?token=`, then sessionStorage, stripped from
 * the address bar), polls the JSON API every 2 s with the bearer header, and renders
 * every value with textContent (nothing from the API is parsed as HTML).
 */
import { DASHBOARD_JS_RENDER } from './dashboard-render.js';

export const DASHBOARD_JS_CORE = String.raw`var TOKEN_KEY = 'sluice-admin-token';
var REFRESH_MS = 2000;
var state = { token: null, window: '5m', timer: null, chart: null, chartWidth: 0, stepS: 1, hover: false, busy: false, last: null };

function $(id) { return document.getElementById(id); }

/* h('td', {class: 'num'}, ['text', node]) : builds DOM without innerHTML. */
function h(tag, attrs, children) {
  var el = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'class') el.className = v;
      else if (k === 'onclick') el.addEventListener('click', v);
      else if (k === 'width') el.style.width = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    });
  }
  (children || []).forEach(function (c) {
    if (c === null || c === undefined || c === false) return;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  });
  return el;
}

function fmtNum(n) {
  if (n === null || n === undefined) return '\u2013';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Math.round(n).toLocaleString('en-US');
}
function fmtRate(n) {
  if (!n) return '0';
  return n >= 100 ? Math.round(n).toString() : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
function fmtPct(r) {
  if (r === null || r === undefined) return '\u2013';
  var p = r * 100;
  return (p === 0 ? '0' : p < 1 ? p.toFixed(2) : p.toFixed(1)) + '%';
}
function fmtAge(s) {
  if (s === null || s === undefined) return '\u2013';
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}
function fmtTime(iso) {
  if (!iso) return 'until resumed';
  var d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
function since(iso) { return iso ? fmtAge((Date.now() - new Date(iso).getTime()) / 1000) + ' ago' : ''; }

/* Thresholds for colouring, as mailbox providers publish them (bounce 2/5 %, complaints 0.1/0.3 %). */
var LIMITS = { bounce_rate: [0.02, 0.05], complaint_rate: [0.001, 0.003], deferral_rate: [0.1, 0.25] };
function level(metric, r) {
  if (r === null || r === undefined) return 'ok';
  var l = LIMITS[metric];
  if (!l) return 'ok';
  return r >= l[1] ? 'bad' : r >= l[0] ? 'warn' : 'ok';
}
function pctCell(metric, r, count) {
  return h('td', { class: 'num', 'data-col': metric }, [
    h('span', { class: 'pct-' + level(metric, r) }, [fmtPct(r)]),
    h('span', { class: 'sub-line' }, [fmtNum(count)])
  ]);
}

/* ---- token ---- */
function takeToken() {
  var url = new URL(location.href);
  var t = url.searchParams.get('token');
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}
function showLogin(message) {
  if (state.timer) { clearTimeout(state.timer); state.timer = null; }
  $('login').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message || '';
  $('token').focus();
}
function AuthError() { this.message = 'token refused'; }

async function api(method, path, body) {
  var res = await fetch(path, {
    method: method,
    cache: 'no-store',
    headers: body === undefined
      ? { authorization: 'Bearer ' + state.token }
      : { authorization: 'Bearer ' + state.token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (res.status === 401) throw new AuthError();
  var data = await res.json().catch(function () { return null; });
  if (!res.ok) throw new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
  return data;
}

/* ---- refresh loop ---- */
async function refresh() {
  if (state.busy) return;
  state.busy = true;
  var names = ['status', 'sources', 'providers', 'stats', 'alerts'];
  var paths = ['/api/status', '/api/sources', '/api/providers', '/api/stats?window=' + state.window, '/api/alerts'];
  try {
    var results = await Promise.allSettled(paths.map(function (p) { return api('GET', p); }));
    if (results.some(function (r) { return r.status === 'rejected' && r.reason instanceof AuthError; })) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      showLogin('The token was refused.');
      return;
    }
    var d = {};
    var errors = [];
    results.forEach(function (r, i) {
      if (r.status === 'fulfilled') d[names[i]] = r.value;
      else errors.push(names[i] + ': ' + r.reason.message);
    });
    state.last = d;
    render(d);
    banner(errors.length ? 'Some data could not be loaded (' + errors.join('; ') + ')' : null);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } finally {
    state.busy = false;
    if (state.token) {
      if (state.timer) clearTimeout(state.timer);
      state.timer = setTimeout(refresh, REFRESH_MS);
    }
  }
}
function banner(text) {
  $('banner').hidden = !text;
  $('banner').textContent = text || '';
}

function section(name, fn, arg) {
  try { fn(arg); } catch (e) { console.error(name, e); }
}
function render(d) {
  if (d.status) section('cluster', renderCluster, d);
  section('kpis', renderKpis, d);
  if (d.stats) section('chart', renderChart, d.stats);
  if (d.sources) section('sources', renderSources, d);
  if (d.providers) section('providers', renderProviders, d);
  if (d.status) section('nodes', renderNodes, d.status);
  if (d.status) section('queue', renderQueue, d.status);
  if (d.sources || d.status) section('holds', renderHolds, d);
  if (d.alerts) section('alerts', renderAlerts, d.alerts);
}

/* ---- start ---- */
function start() {
  $('login').hidden = true;
  refresh();
}
document.addEventListener('DOMContentLoaded', function () {
  takeToken();
  $('window').addEventListener('change', function (e) { state.window = e.target.value; refresh(); });
  $('logout').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY); state.token = null; showLogin(null);
  });
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t); state.token = t; $('token').value = ''; start();
  });
  if (state.token) start(); else showLogin(null);
});
`;

/** The whole script: one strict-mode function scope around both parts. */
export const DASHBOARD_JS = `(function () {\n'use strict';\n${DASHBOARD_JS_CORE}\n${DASHBOARD_JS_RENDER}\n})();\n`;
