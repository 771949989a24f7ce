/**
 * The dashboard page and its style, served by the admin server at / and
 * /assets/dashboard.css. No inline script or style: the page runs under a strict
 * Content-Security-Policy (admin-server.ts). The script is the ES modules in dashboard/
 * (browser TypeScript, its own tsconfig), served from dist/ by dashboard-assets.ts; as a
 * module it runs after the deferred uPlot script, in document order.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice · dashboard</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/uplot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/uplot.min.js" defer></script>
<script type="module" src="/assets/dashboard/main.js"></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true"></span>Sluice</div>
  <div id="cluster" class="chips"></div>
  <div class="spacer"></div>
  <label class="window">Window
    <select id="window">
      <option value="1m">1 min</option>
      <option value="5m" selected>5 min</option>
      <option value="15m">15 min</option>
      <option value="1h">1 hour</option>
    </select>
  </label>
  <span id="updated" class="muted small"></span>
  <button id="logout" class="ghost" type="button">Sign out</button>
</header>
<div id="banner" class="banner" hidden></div>
<main id="app">
  <section id="kpis" class="kpis" aria-label="Key figures"></section>
  <div class="grid">
    <div class="col-main">
      <section class="card">
        <h2>Send rate <small id="chart-sub">messages per second</small></h2>
        <div id="chart" class="chart"></div>
      </section>
      <section class="card">
        <h2>Sources <small>per source IP, over the window; rates are of delivery attempts</small></h2>
        <div class="scroll"><table id="sources" class="tbl">
          <thead><tr>
            <th>Source</th><th>IP · node</th><th>Pools</th><th>Status</th><th class="warm">Warm-up today</th>
            <th class="num" title="Delivery attempts: a deferred try and the later delivery count as two">Attempts</th><th class="num" title="Share of delivery attempts that were delivered (not of messages: a message deferred once, then delivered, is 1 of 2)">Delivered</th><th class="num">Deferred</th><th class="num">Bounced</th><th class="num">Complaints</th><th></th>
          </tr></thead>
          <tbody></tbody>
        </table></div>
      </section>
      <section class="card">
        <h2>Providers <small>over the window; rates are of delivery attempts</small></h2>
        <div class="scroll"><table id="providers" class="tbl">
          <thead><tr>
            <th>Provider</th><th class="num">Connections</th><th class="num">Rate limit</th><th class="num">Queued</th><th class="num">Oldest</th>
            <th class="num" title="Delivery attempts: a deferred try and the later delivery count as two">Attempts</th><th class="num" title="Share of delivery attempts that were delivered (not of messages: a message deferred once, then delivered, is 1 of 2)">Delivered</th><th class="num">Deferred</th><th class="num">Bounced</th><th class="num">Complaints</th><th>Held sources</th>
          </tr></thead>
          <tbody></tbody>
        </table></div>
      </section>
    </div>
    <aside class="col-side">
      <section class="card">
        <h2>Nodes</h2>
        <ul id="nodes" class="list"></ul>
      </section>
      <section class="card">
        <h2>Alerts</h2>
        <ul id="alerts" class="list"></ul>
      </section>
      <section class="card">
        <h2>Held</h2>
        <ul id="holds" class="list"></ul>
      </section>
      <section class="card">
        <h2>Queue <small>by pool and provider</small></h2>
        <table id="queue" class="tbl compact">
          <thead><tr><th>Pool</th><th>Provider</th><th class="num">Waiting</th><th class="num">Oldest</th></tr></thead>
          <tbody></tbody>
        </table>
      </section>
    </aside>
  </div>
</main>
<div id="login" class="login" hidden>
  <form id="login-form" class="login-box">
    <div class="brand big"><span class="logo" aria-hidden="true"></span>Sluice</div>
    <p class="muted">Enter the admin token (<code>[admin] token</code> in the node's config).</p>
    <input id="token" type="password" autocomplete="current-password" placeholder="Admin token" required>
    <p id="login-error" class="error" hidden></p>
    <button type="submit">Sign in</button>
  </form>
</div>
</body>
</html>
`;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1d2633"/><path d="M6 11h20M6 16h14M6 21h8" stroke="#4aa3ff" stroke-width="3" stroke-linecap="round"/></svg>`;

export const DASHBOARD_CSS = `
:root {
  --bg: #0d1117; --panel: #151b23; --panel-2: #1b232e; --border: #263140; --text: #dbe2ea;
  --muted: #8796a8; --accent: #4aa3ff; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --violet: #a371f7;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
[hidden] { display: none !important; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
code { font-family: var(--mono); font-size: 12px; }

.top { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; gap: 14px; padding: 10px 20px;
  background: rgba(13, 17, 23, 0.94); border-bottom: 1px solid var(--border); backdrop-filter: blur(6px); }
.brand { display: flex; align-items: center; gap: 9px; font-weight: 650; font-size: 16px; letter-spacing: 0.2px; }
.brand.big { font-size: 22px; justify-content: center; margin-bottom: 6px; }
.logo { width: 20px; height: 20px; border-radius: 5px; background: linear-gradient(135deg, #4aa3ff, #3fb950); }
.spacer { flex: 1; }
.chips { display: flex; gap: 8px; flex-wrap: wrap; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px; background: var(--panel-2);
  border: 1px solid var(--border); color: var(--muted); font-size: 12px; white-space: nowrap; }
.chip b { color: var(--text); font-weight: 600; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--muted); flex: none; }
.dot.ok { background: var(--ok); box-shadow: 0 0 0 3px rgba(63, 185, 80, 0.15); }
.dot.warn { background: var(--warn); box-shadow: 0 0 0 3px rgba(210, 153, 34, 0.15); }
.dot.bad { background: var(--bad); box-shadow: 0 0 0 3px rgba(248, 81, 73, 0.15); }
.window { color: var(--muted); font-size: 12px; display: flex; align-items: center; gap: 6px; }
select, input { background: var(--panel-2); color: var(--text); border: 1px solid var(--border); border-radius: 6px; padding: 4px 8px; font: inherit; }
button { font: inherit; font-size: 12px; font-weight: 600; border-radius: 6px; padding: 4px 12px; cursor: pointer;
  border: 1px solid #2f6fb3; background: #1f4f82; color: #eaf3ff; }
button:hover { background: #2762a0; }
button:disabled { opacity: 0.55; cursor: progress; }
button.ghost { background: transparent; border-color: var(--border); color: var(--muted); }
button.ghost:hover { color: var(--text); border-color: var(--muted); }
button.hold { background: transparent; border-color: #6b4b12; color: #e3b341; }
button.hold:hover { background: rgba(210, 153, 34, 0.12); }
button.lift { background: #1f5f2f; border-color: #2e8540; color: #e6ffec; }
button.lift:hover { background: #257238; }

.banner { margin: 10px 20px 0; padding: 8px 12px; border-radius: 8px; border: 1px solid #6e2a26; background: rgba(248, 81, 73, 0.1); color: #ffb4ae; }
main { padding: 14px 20px 24px; }

.kpis { display: grid; grid-template-columns: repeat(7, minmax(0, 1fr)); gap: 12px; margin-bottom: 14px; }
.kpi { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 10px 14px; min-width: 0; }
.kpi .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.6px; }
.kpi .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kpi .sub { color: var(--muted); font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.kpi.ok .value { color: var(--ok); } .kpi.warn .value { color: var(--warn); } .kpi.bad .value { color: var(--bad); }

.grid { display: grid; grid-template-columns: minmax(0, 1fr) 330px; gap: 14px; align-items: start; }
.col-main, .col-side { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; min-width: 0; }
.card h2 { margin: 0 0 8px; font-size: 13px; font-weight: 650; letter-spacing: 0.2px; }
.card h2 small { color: var(--muted); font-weight: 400; margin-left: 6px; }
.chart { min-height: 236px; }
.empty { color: var(--muted); padding: 10px 2px; }

.tbl { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
.tbl th { text-align: left; color: var(--muted); font-weight: 500; font-size: 11px; text-transform: uppercase; letter-spacing: 0.5px;
  padding: 6px 7px; border-bottom: 1px solid var(--border); white-space: nowrap; }
.tbl td { padding: 7px 7px; border-bottom: 1px solid #1e2733; vertical-align: middle; white-space: nowrap; }
.tbl tr:last-child td { border-bottom: none; }
.tbl tbody tr:hover td { background: rgba(255, 255, 255, 0.02); }
.tbl .num { text-align: right; }
.tbl.compact td { padding: 5px 6px; } .tbl.compact th { padding: 5px 6px; }
.tbl .warm { width: 120px; }
.tbl td.wrap { white-space: normal; max-width: 120px; }
.tbl td.wrap .tag { margin: 1px 4px 1px 0; }
.scroll { overflow-x: auto; }
.name { font-weight: 600; }
.sub-line { display: block; color: var(--muted); font-size: 11px; font-weight: 400; }
.ip { font-family: var(--mono); font-size: 12px; color: #b8c7d9; }
.pct-ok { color: var(--text); } .pct-warn { color: var(--warn); font-weight: 600; } .pct-bad { color: var(--bad); font-weight: 600; }
.tag { display: inline-block; padding: 1px 7px; border-radius: 999px; font-size: 11px; margin-right: 4px; background: var(--panel-2); border: 1px solid var(--border); color: var(--muted); }
.status { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; }

.bar { position: relative; height: 8px; background: #222c39; border-radius: 4px; overflow: hidden; width: 100%; min-width: 80px; }
.bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: linear-gradient(90deg, #2d7dd2, #4aa3ff); border-radius: 4px; }
.bar.full > span { background: linear-gradient(90deg, #b07d12, #e3b341); }
.bar-label { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); margin-top: 3px; }

.list { list-style: none; margin: 0; padding: 0; }
.list li { display: flex; align-items: flex-start; gap: 10px; padding: 8px 0; border-bottom: 1px solid #1e2733; }
.list li:last-child { border-bottom: none; }
.list .grow { flex: 1; min-width: 0; }
.list .title { font-weight: 600; }
.list .title .tag { margin-left: 6px; font-weight: 400; }
.list .title .tag.pct-warn { color: var(--warn); border-color: var(--warn); } .list .title .tag.pct-bad { color: var(--bad); border-color: var(--bad); }
.list .meta { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.list .dot { margin-top: 5px; }
.alert-active .title { color: #ffb4ae; }
.alert-cleared .title { color: var(--muted); font-weight: 500; }

.login { position: fixed; inset: 0; display: grid; place-items: center; background: rgba(13, 17, 23, 0.96); z-index: 10; }
.login-box { width: 340px; background: var(--panel); border: 1px solid var(--border); border-radius: 12px; padding: 24px; display: flex; flex-direction: column; gap: 12px; text-align: center; }
.login-box input { padding: 8px 10px; }
.login-box button { padding: 8px 12px; font-size: 13px; }
.error { color: var(--bad); margin: 0; }

.uplot { font-family: inherit; }
.u-legend { font-size: 12px; color: var(--muted); margin-top: 4px; }
.u-legend .u-marker { border-radius: 3px; }
.u-legend th { font-weight: 500; }
.u-select { background: rgba(74, 163, 255, 0.08); }
`;
