/**
 * The dashboard's sections (header, key figures, chart, tables, side column), drawn
 * from the API replies with textContent only. Part of /assets/dashboard.js; it runs in
 * the scope dashboard-script.ts opens (h, fmt*, level, api, refresh, state).
 */
export const DASHBOARD_JS_RENDER = String.raw`/* ---- header and key figures ---- */
function renderCluster(d) {
  var s = d.status;
  var live = s.nodes.filter(function (n) { return n.live; }).length;
  var active = d.alerts ? d.alerts.active.length : 0;
  var chips = [
    h('span', { class: 'chip' }, ['node ', h('b', null, [s.node]), ' v' + s.version]),
    h('span', { class: 'chip' }, [h('span', { class: 'dot ' + (s.state_healthy ? 'ok' : 'bad') }), 'state ', h('b', null, [s.state_backend]), s.state_healthy ? '' : ' degraded']),
    h('span', { class: 'chip' }, [h('span', { class: 'dot ' + (live === s.nodes.length ? 'ok' : 'warn') }), h('b', null, [live + '/' + s.nodes.length]), ' nodes live']),
    active ? h('span', { class: 'chip' }, [h('span', { class: 'dot bad' }), h('b', null, [String(active)]), active === 1 ? ' alert' : ' alerts']) : null,
    s.draining ? h('span', { class: 'chip' }, [h('span', { class: 'dot warn' }), 'draining']) : null
  ];
  $('cluster').replaceChildren.apply($('cluster'), chips.filter(Boolean));
}

function kpi(label, value, sub, lvl) {
  return h('div', { class: 'kpi ' + (lvl || '') }, [
    h('div', { class: 'label' }, [label]), h('div', { class: 'value' }, [value]), h('div', { class: 'sub' }, [sub])
  ]);
}
/* The cards and the chart legend (away from the cursor) both show this: the mean rate over
   the last RECENT_S seconds of the series, so the two never disagree. */
var RECENT_S = 10;
function tailRate(v, stepS, seconds) {
  var n = Math.max(1, Math.min(v.length, Math.round(seconds / stepS)));
  var sum = 0; for (var i = v.length - n; i < v.length; i++) sum += v[i] || 0;
  return sum / n;
}
function recentRate(series, kind, seconds) { return tailRate(series[kind], series.step_s, seconds); }
function renderKpis(d) {
  var st = d.stats, s = d.status, tiles = [];
  if (st) {
    var t = st.totals, wl = state.window;
    tiles.push(kpi('Delivering', fmtRate(recentRate(st.series, 'delivered', RECENT_S)) + '/s', RECENT_S + ' s avg \u00b7 ' + fmtNum(t.delivered) + ' in ' + wl));
    tiles.push(kpi('Accepting', fmtRate(recentRate(st.series, 'queued', RECENT_S)) + '/s', RECENT_S + ' s avg \u00b7 ' + fmtNum(t.queued) + ' in ' + wl));
  }
  if (s) {
    var depth = 0, oldest = 0;
    s.queue.forEach(function (q) { depth += q.depth; oldest = Math.max(oldest, q.oldest_seconds); });
    tiles.push(kpi('Queued', fmtNum(depth), 'oldest ' + fmtAge(oldest), oldest > 3600 ? 'warn' : ''));
  }
  if (st) {
    var t2 = st.totals;
    tiles.push(kpi('Bounce rate', fmtPct(t2.bounce_rate), fmtNum(t2.bounced) + ' bounced', level('bounce_rate', t2.bounce_rate)));
    tiles.push(kpi('Complaint rate', fmtPct(t2.complaint_rate), fmtNum(t2.complained) + ' complaints', level('complaint_rate', t2.complaint_rate)));
    tiles.push(kpi('Deferral rate', fmtPct(t2.deferral_rate), fmtNum(t2.deferred) + ' deferred', level('deferral_rate', t2.deferral_rate)));
  }
  if (s) {
    var live = s.nodes.filter(function (n) { return n.live; }).length;
    tiles.push(kpi('Nodes', live + ' / ' + s.nodes.length, s.state_healthy ? 'state ' + s.state_backend + ' ok' : 'state degraded', live < s.nodes.length || !s.state_healthy ? 'bad' : 'ok'));
  }
  $('kpis').replaceChildren.apply($('kpis'), tiles);
}

/* ---- chart ---- */
var SERIES = [
  ['delivered', 'Delivered', '#3fb950'], ['queued', 'Accepted', '#4aa3ff'],
  ['deferred', 'Deferred', '#d29922'], ['bounced', 'Bounced', '#f85149'], ['complained', 'Complaints', '#a371f7']
];
function renderChart(stats) {
  var box = $('chart');
  $('chart-sub').textContent = 'messages per second, last ' + state.window + (stats.series.step_s > 1 ? ' (' + stats.series.step_s + ' s steps)' : '') + '; legend: last ' + RECENT_S + ' s as on the cards, one step under the cursor';
  state.stepS = stats.series.step_s;
  var data = [stats.series.t].concat(SERIES.map(function (s) { return stats.series[s[0]]; }));
  if (typeof uPlot === 'undefined') {
    box.replaceChildren(h('div', { class: 'empty' }, ['chart unavailable (uPlot not loaded)']));
    return;
  }
  var width = Math.max(300, box.clientWidth);
  if (!state.chart) {
    var axis = { stroke: '#8796a8', grid: { stroke: '#1f2935', width: 1 }, ticks: { stroke: '#1f2935', width: 1 }, font: '11px system-ui, sans-serif' };
    state.chart = new uPlot({
      width: width, height: 210,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.15)]; } } },
      axes: [axis, Object.assign({}, axis, { size: 48, values: function (u, vals) { return vals.map(function (v) { return v % 1 === 0 ? String(v) : v.toFixed(1); }); } })],
      series: [{}].concat(SERIES.map(function (s, i) {
        return { label: s[1], stroke: s[2], width: i === 0 ? 2 : 1.5, fill: i === 0 ? 'rgba(63,185,80,0.10)' : undefined,
          value: function (u, v, sidx, idx) {
            // No cursor over the chart (uPlot passes no index after a redraw) or the latest
            // step: the cards' figure, over the same seconds.
            if (idx == null || (!state.hover && idx === u.data[0].length - 1)) return fmtRate(tailRate(u.data[sidx], state.stepS || 1, RECENT_S)) + '/s';
            return v === null ? '\u2013' : fmtRate(v) + '/s';
          } };
      }))
    }, data, box);
    state.chartWidth = width;
    box.addEventListener('mouseenter', function () { state.hover = true; });
    box.addEventListener('mouseleave', function () { state.hover = false; showLatest(); });
    if (window.ResizeObserver) new ResizeObserver(function () {
      var w = Math.max(300, box.clientWidth);
      if (state.chart && Math.abs(w - state.chartWidth) > 4) { state.chartWidth = w; state.chart.setSize({ width: w, height: 210 }); }
    }).observe(box);
  } else {
    state.chart.setData(data);
  }
  showLatest();
}
/* Away from the cursor, the legend shows the latest second's rates. */
function showLatest() {
  var u = state.chart;
  if (!u || state.hover || !u.data[0].length) return;
  u.setLegend({ idx: u.data[0].length - 1 });
}

/* ---- tables ---- */
function byKey(rows) { var m = {}; (rows || []).forEach(function (r) { m[r.key] = r; }); return m; }
/* Delivery attempts (each try counts: a deferral and the later delivery are two), not messages. */
function sent(r) { return r ? r.delivered + r.deferred + r.bounced : 0; }
function attemptsCell(r) {
  var cell = pctCell('delivered', r && sent(r) ? r.delivered / sent(r) : null, r ? r.delivered : 0);
  cell.lastChild.textContent = fmtNum(r ? r.delivered : 0) + ' of ' + fmtNum(sent(r)) + ' attempts';
  return cell;
}

function sourceStatus(s) {
  if (s.paused) return h('span', { class: 'status', title: s.paused.reason + ' (by ' + s.paused.by + ')' }, [h('span', { class: 'dot bad' }), 'paused']);
  if (s.suspended.length) return h('span', { class: 'status', title: s.suspended.map(function (x) { return x.provider + ': ' + x.reason; }).join('; ') },
    [h('span', { class: 'dot warn' }), h('span', null, ['suspended', h('span', { class: 'sub-line' }, ['\u2192 ' + s.suspended.map(function (x) { return x.provider; }).join(', ')])])]);
  if (s.node !== null && !s.node_live) return h('span', { class: 'status' }, [h('span', { class: 'dot bad' }), 'node down']);
  return h('span', { class: 'status' }, [h('span', { class: 'dot ok' }), 'active']);
}
function warmupCell(w) {
  if (!w) return h('td', { class: 'warm' }, [h('span', { class: 'muted small' }, ['full volume'])]);
  var pct = w.cap > 0 ? Math.min(100, (w.used / w.cap) * 100) : 100;
  return h('td', { class: 'warm', title: 'schedule ' + w.schedule + ', ' + w.day }, [
    h('div', { class: 'bar' + (pct >= 100 ? ' full' : '') }, [h('span', { width: pct.toFixed(1) + '%' })]),
    h('div', { class: 'bar-label' }, [h('span', null, [fmtNum(w.used) + ' / ' + fmtNum(w.cap)]), h('span', null, [Math.round(pct) + '%'])])
  ]);
}
function actionButton(label, cls, path, body) {
  return h('button', { class: cls, type: 'button', 'data-action': path, onclick: function (e) { act(e.currentTarget, path, body); } }, [label]);
}
async function act(button, path, body) {
  button.disabled = true;
  try {
    await api('POST', path, body);
    banner(null);
  } catch (e) {
    if (e instanceof AuthError) { showLogin('The token was refused.'); return; }
    banner('Action failed: ' + e.message);
  } finally {
    button.disabled = false;
  }
  await refresh();
}

function renderSources(d) {
  var stats = byKey(d.stats && d.stats.by_source);
  var rows = d.sources.sources.map(function (s) {
    var r = stats[s.name];
    var enc = encodeURIComponent(s.name);
    var held = s.paused || s.suspended.length;
    return h('tr', { 'data-source': s.name }, [
      h('td', null, [h('span', { class: 'name' }, [s.name]), h('span', { class: 'sub-line' }, [s.ehlo])]),
      h('td', null, [h('span', { class: 'ip' }, [s.ip]), h('span', { class: 'sub-line' }, [s.node ? 'on ' + s.node : 'any node'])]),
      h('td', { class: 'wrap' }, s.pools.map(function (p) { return h('span', { class: 'tag' }, [p]); })),
      h('td', null, [sourceStatus(s)]),
      warmupCell(s.warmup),
      h('td', { class: 'num', 'data-col': 'sent' }, [fmtNum(sent(r)), h('span', { class: 'sub-line' }, [s.connections + ' conn'])]),
      attemptsCell(r),
      pctCell('deferral_rate', r ? r.deferral_rate : null, r ? r.deferred : 0),
      pctCell('bounce_rate', r ? r.bounce_rate : null, r ? r.bounced : 0),
      pctCell('complaint_rate', r ? r.complaint_rate : null, r ? r.complained : 0),
      h('td', { class: 'num' }, [held
        ? actionButton('Resume', 'resume', '/api/sources/' + enc + '/resume')
        : actionButton('Pause', 'pause', '/api/sources/' + enc + '/pause', { reason: 'paused from the dashboard' })])
    ]);
  });
  if (!rows.length) rows = [h('tr', null, [h('td', { colspan: 11, class: 'empty' }, ['no sources configured'])])];
  $('sources').tBodies[0].replaceChildren.apply($('sources').tBodies[0], rows);
}

/* "50/s, burst 5" per source, the fleet total under it; what each keeps on hover (docs/SHAPING.md). */
function withBurst(r) { return r.max_message_rate + (r.max_message_burst === null ? '' : ', burst ' + r.max_message_burst); }
function rateCell(p) {
  var keeps = [p.rate_guarantee && 'per source: ' + p.rate_guarantee, p.total && p.total.rate_guarantee && 'total: ' + p.total.rate_guarantee].filter(Boolean);
  return h('td', { class: 'num', 'data-col': 'rate', title: keeps.length ? keeps.join('\n') : null }, [withBurst(p),
    p.total ? h('span', { class: 'sub-line' }, ['total ' + withBurst(p.total)]) : null]);
}

function renderProviders(d) {
  var stats = byKey(d.stats && d.stats.by_provider);
  var rows = d.providers.providers.map(function (p) {
    var r = stats[p.name];
    return h('tr', null, [
      h('td', { class: 'name' }, [p.name]),
      h('td', { class: 'num' }, [p.connections + ' / ' + p.max_connections]),
      rateCell(p),
      h('td', { class: 'num' }, [fmtNum(p.queue_depth)]),
      h('td', { class: 'num' }, [fmtAge(p.oldest_seconds)]),
      h('td', { class: 'num' }, [fmtNum(sent(r))]),
      attemptsCell(r),
      pctCell('deferral_rate', r ? r.deferral_rate : null, r ? r.deferred : 0),
      pctCell('bounce_rate', r ? r.bounce_rate : null, r ? r.bounced : 0),
      pctCell('complaint_rate', r ? r.complaint_rate : null, r ? r.complained : 0),
      h('td', null, p.suspended.length ? p.suspended.map(function (x) { return h('span', { class: 'tag', title: x.reason }, [x.source + ' until ' + fmtTime(x.until)]); }) : [h('span', { class: 'muted' }, ['none'])])
    ]);
  });
  if (!rows.length) rows = [h('tr', null, [h('td', { colspan: 11, class: 'empty' }, ['no providers'])])];
  $('providers').tBodies[0].replaceChildren.apply($('providers').tBodies[0], rows);
}

/* ---- side column ---- */
// The config version from Redis the answering node runs, and one it refused (docs/OPERATIONS.md "Config rollout").
function configTags(c) {
  if (!c || c.source !== 'redis') return [];
  var tags = [h('span', { class: 'tag' }, ['config v' + c.version])];
  if (c.failed) tags.push(h('span', { class: 'tag pct-bad', title: c.failed.errors.join('\n') }, ['config v' + c.failed.version + ' refused']));
  return tags;
}
function renderNodes(s) {
  var items = s.nodes.map(function (n) {
    return h('li', null, [
      h('span', { class: 'dot ' + (!n.live ? 'bad' : n.draining ? 'warn' : 'ok') }),
      h('div', { class: 'grow' }, [
        h('div', { class: 'title' }, [n.id, n.self ? h('span', { class: 'tag' }, ['this node']) : null, n.draining ? h('span', { class: 'tag' }, ['draining']) : null].concat(n.self ? configTags(s.config) : [])),
        h('div', { class: 'meta' }, [n.live ? (n.address + ' \u00b7 up ' + fmtAge(n.started_at ? (Date.now() - n.started_at) / 1000 : null) + ' \u00b7 v' + n.version) : 'down \u2014 its sources left their pools'])
      ])
    ]);
  });
  $('nodes').replaceChildren.apply($('nodes'), items.length ? items : [h('li', { class: 'empty' }, ['no nodes'])]);
}
function renderQueue(s) {
  var rows = s.queue.slice().sort(function (a, b) { return b.depth - a.depth; }).map(function (q) {
    return h('tr', null, [h('td', null, [q.pool]), h('td', null, [q.provider]), h('td', { class: 'num' }, [fmtNum(q.depth)]),
      h('td', { class: 'num' + (q.oldest_seconds > 3600 ? ' pct-warn' : '') }, [fmtAge(q.oldest_seconds)])]);
  });
  if (!rows.length) rows = [h('tr', null, [h('td', { colspan: 4, class: 'empty' }, ['queue empty'])])];
  $('queue').tBodies[0].replaceChildren.apply($('queue').tBodies[0], rows);
}
function holdItem(kind, name, hold, button) {
  return h('li', null, [
    h('span', { class: 'dot ' + (kind === 'suspended' ? 'warn' : 'bad') }),
    h('div', { class: 'grow' }, [
      h('div', { class: 'title' }, [name + ' ', h('span', { class: 'tag' }, [kind])]),
      h('div', { class: 'meta' }, [hold.reason + ' \u00b7 by ' + hold.by + ' \u00b7 ' + fmtTime(hold.until)])
    ]),
    button
  ]);
}
function renderHolds(d) {
  var items = [];
  var sources = d.sources ? d.sources.sources : [];
  sources.forEach(function (s) {
    var enc = encodeURIComponent(s.name);
    if (s.paused) items.push(holdItem('paused', 'source ' + s.name + ' (' + s.ip + ')', s.paused, actionButton('Resume', 'resume', '/api/sources/' + enc + '/resume')));
    s.suspended.forEach(function (x) {
      items.push(holdItem('suspended', 'source ' + s.name + ' \u2192 ' + x.provider, x, s.paused ? null : actionButton('Resume', 'resume', '/api/sources/' + enc + '/resume')));
    });
  });
  (d.status ? d.status.pools : []).forEach(function (p) {
    if (p.paused) items.push(holdItem('paused', 'pool ' + p.name, p.paused, actionButton('Resume', 'resume', '/api/pools/' + encodeURIComponent(p.name) + '/resume')));
  });
  $('holds').replaceChildren.apply($('holds'), items.length ? items : [h('li', { class: 'empty' }, ['every source is sending'])]);
}
function renderAlerts(a) {
  var seen = {};
  var items = a.active.concat(a.recent.filter(function (x) { return x.cleared_at; })).filter(function (x) {
    var k = x.id + x.raised_at; if (seen[k]) return false; seen[k] = true; return true;
  }).slice(0, 8).map(function (x) {
    var on = !x.cleared_at;
    return h('li', { class: on ? 'alert-active' : 'alert-cleared' }, [
      h('span', { class: 'dot ' + (on ? 'bad' : '') }),
      h('div', { class: 'grow' }, [
        h('div', { class: 'title' }, [x.message]),
        h('div', { class: 'meta' }, [(on ? 'raised ' + since(x.raised_at) : 'cleared ' + since(x.cleared_at)) + ' \u00b7 ' + x.rule])
      ])
    ]);
  });
  $('alerts').replaceChildren.apply($('alerts'), items.length ? items : [h('li', { class: 'empty' }, ['no alerts'])]);
}

`;
