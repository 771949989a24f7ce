import { dkimLabel, type Report } from './build-report.js';
import { logHistogram } from './stats.js';
import { escapeXml as esc, histogramChart, lineChart, type LineSeries } from './svg.js';
import { formatBytes } from './table.js';

/** The self-contained HTML report (--html FILE): inline CSS and SVG, nothing fetched. */

const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

export function renderHtml(r: Report, latencies: ArrayLike<number>): string {
  const rates: LineSeries[] = [
    { name: 'accepted/s (250 at the client)', color: COLORS[0] ?? '#000', values: r.series.accepted_per_s },
    { name: 'delivered/s (at the providers)', color: COLORS[1] ?? '#000', values: r.series.delivered_per_s },
  ];
  const perProvider = Object.entries(r.series.delivered_per_s_by_provider).map(([name, values], i) => ({
    name,
    color: COLORS[(i + 2) % COLORS.length] ?? '#000',
    values,
  }));
  const l = r.latency_ms;
  const markers = [
    { at: l.p50 ?? 0, label: `p50 ${l.p50} ms` },
    { at: l.p95 ?? 0, label: `p95 ${l.p95} ms` },
    { at: l.p99 ?? 0, label: `p99 ${l.p99} ms` },
  ];
  const body = [
    `<h1>Sluice load test <code>${esc(r.run_id)}</code></h1>`,
    `<p class="sub">${esc(r.mode)}${r.target ? ` → ${esc(r.target)}` : ''} · ${esc(r.started_at)} · ${r.messages} messages of ${formatBytes(r.size_bytes)} · ${r.connections} connections · ${r.domains} domains · providers ${esc(r.profiles.join(', '))} · ${esc(dkimLabel(r))}</p>`,
    cards(r),
    '<h2>Rates over time</h2>',
    lineChart('Accepted and delivered per second', 'messages per second', rates, r.series.bucket_s),
    perProvider.length > 1 ? lineChart('Delivered per second, by provider', 'messages per second', perProvider, r.series.bucket_s) : '',
    r.series.gateway_rss_mb.length
      ? lineChart('Gateway resident memory', 'MB (VmRSS)', [{ name: 'RSS of the Sluice node', color: COLORS[3] ?? '#000', values: r.series.gateway_rss_mb }], r.series.bucket_s)
      : '',
    '<h2>Latency from the 250 to delivery</h2>',
    histogramChart('Latency distribution (log scale)', 'milliseconds from the 250 to the arrival at the provider', logHistogram(latencies), markers),
    latencyTable(r),
    '<h2>Providers</h2>',
    providerTable(r),
    providerSourceTable(r),
    '<h2>Source IPs</h2>',
    sourceTable(r),
    '<h2>Outcomes</h2>',
    outcomeTable(r),
    notes(r),
    glossary(),
    `<details><summary>The report as JSON (what <code>--json</code> prints)</summary><pre>${esc(JSON.stringify(r, null, 2))}</pre></details>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice load test ${esc(r.run_id)}</title>
<style>${CSS}</style></head>
<body><main>
${body.filter(Boolean).join('\n')}
</main></body></html>
`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;background:#f6f7f9;margin:0}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:10px 12px}
.card b{display:block;font-size:20px}.card span{color:#666;font-size:12px}
.bad b{color:#c62828}.good b{color:#2e7d32}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;width:100%}
th,td{border:1px solid #e1e4e8;padding:4px 8px;text-align:right}th{background:#f0f2f5}
td:first-child,th:first-child{text-align:left}
svg{background:#fff;border:1px solid #e1e4e8;border-radius:6px;margin:6px 0}
dt{font-weight:600;margin-top:6px}dd{margin:0 0 0 16px;color:#444}
pre{background:#fff;border:1px solid #e1e4e8;padding:8px;overflow:auto;font-size:12px}
code{background:#eef0f3;padding:0 3px;border-radius:3px}
`;

function cards(r: Report): string {
  const card = (label: string, value: string | number, cls = ''): string => `<div class="card ${cls}"><b>${esc(String(value))}</b><span>${esc(label)}</span></div>`;
  return `<div class="cards">${[
    card('accepted/s', r.accepted_per_s),
    card('delivered/s end to end', r.delivered_per_s),
    card('latency p50 / p99 (ms)', `${r.latency_ms.p50 ?? '-'} / ${r.latency_ms.p99 ?? '-'}`),
    card('delivered', `${r.delivered} / ${r.accepted}`, r.delivered === r.accepted ? 'good' : ''),
    card('lost', r.lost, r.lost ? 'bad' : 'good'),
    card('duplicates', r.duplicates, r.duplicates ? 'bad' : 'good'),
    card('gateway CPU seconds', r.cpu_s ?? 'n/a'),
    card('gateway peak RSS (MB)', r.rss_peak_mb ?? 'n/a'),
  ].join('')}</div>`;
}

function htmlTable(head: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c === null ? '-' : String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function latencyTable(r: Report): string {
  const l = r.latency_ms;
  return htmlTable(['', 'p50', 'p95', 'p99', 'max', 'mean'], [['ms from the 250 to delivery', l.p50, l.p95, l.p99, l.max, l.mean]]);
}

function providerTable(r: Report): string {
  const rows = Object.entries(r.providers).map(([name, p]) => [
    name,
    p.delivered,
    p.peak_connections,
    p.limit_connections,
    p.peak_connections_total,
    p.max_1s_rate,
    p.limit_rate,
    p.max_1s_rate_total,
    p.limits_from,
    p.provider_max_connections,
    p.provider_max_rate,
    p.within_limits === null ? null : p.within_limits ? 'yes' : 'NO',
    `${p.tls_sessions} / ${p.sessions}`,
    Object.entries(p.refusals).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
  ]);
  return htmlTable(
    ['provider', 'delivered', 'peak conn / IP', 'limit', 'peak conn all IPs', 'max 1 s / IP', 'limit / s', 'max 1 s all IPs', 'limits from', 'provider max conn', 'provider max / s', 'within', 'TLS sessions', 'refusals by reason'],
    rows,
  );
}

function providerSourceTable(r: Report): string {
  const rows = Object.entries(r.providers).flatMap(([name, p]) =>
    Object.entries(p.sources).map(([ip, s]) => [name, ip, s.delivered, s.connections_opened, s.peak_connections, p.limit_connections, s.max_1s_rate, p.limit_rate]),
  );
  return htmlTable(['provider', 'source IP', 'delivered', 'connections opened', 'peak connections', 'limit', 'max 1 s rate', 'limit / s'], rows);
}

function sourceTable(r: Report): string {
  const rows = Object.entries(r.sources).map(([ip, s]) => [ip, s.delivered, s.connections_opened, s.peak_connections, s.max_1s_rate, s.ehlo.join(' ')]);
  return htmlTable(['source IP', 'delivered', 'connections opened', 'peak connections (all providers)', 'max 1 s rate', 'EHLO names seen'], rows);
}

function outcomeTable(r: Report): string {
  return htmlTable(
    ['messages', 'accepted', 'refused (5xx)', 'failed (4xx)', 'unknown outcome', 'not sent', 'delivered', 'bounced', 'lost', 'duplicates', 'DSNs', 'DKIM signed'],
    [[r.messages, r.accepted, r.refused, r.failed, r.unknown_outcome, r.not_sent, r.delivered, r.bounced, r.lost, r.duplicates, r.dsn_received, r.dkim_signed]],
  );
}

function notes(r: Report): string {
  const items = [
    `Drain ended: ${r.drain.end} after ${r.drain.waited_s} s. Accept phase ${r.accept_s} s, first message to last delivery ${r.total_s} s.`,
    r.dns ? `DNS server ${r.dns}; simulated providers on port ${r.sink_port}.` : '',
    ...r.warnings.map((w) => `Warning: ${w}`),
    ...r.client.samples.map((s) => `Client saw: ${s}`),
  ].filter(Boolean);
  return `<h2>Notes</h2><ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>`;
}

function glossary(): string {
  const terms: [string, string][] = [
    ['accepted/s', 'Messages that got a 250 after the final dot, divided by the time from the first MAIL FROM to the last 250.'],
    ['delivered/s', 'Accepted messages that arrived at a simulated provider, divided by the time from the first MAIL FROM to the last of those arrivals: the end-to-end rate.'],
    ['latency', 'Per message, the arrival time at the simulated provider (its 250) minus the time the client read the gateway\'s 250; nearest-rank percentiles. Retries after a provider deferral are part of it.'],
    ['lost', 'Accepted, never delivered and never refused for good by a provider, when the drain ended (all settled, or no progress for the stall time after the drain timeout).'],
    ['bounced', 'Accepted, then refused with a 5xx by a simulated provider (an unknown user, a full mailbox): the gateway owes the sender a DSN, not a delivery.'],
    ['duplicates', 'Arrivals of a message already delivered once (the trace header seen again).'],
    ['peak conn / IP', 'The most connections one source IP had open at once to that provider, counted at TCP accept, refused ones included. The configured limits are per source IP.'],
    ['max 1 s / IP', 'The most messages one source IP delivered to that provider within any sliding one-second window.'],
    ['limit, limit / s', 'From the generated Sluice config ([providers.NAME], or [providers.default] for undeclared ones), or with --target from the profile\'s own enforcement limits.'],
    ['within', 'Whether both peaks stayed at or under the limits. A token bucket with a burst can show a little over its rate in one window.'],
    ['refusals', 'What the simulated provider answered with a 4xx/5xx, by reason: connections, rate, per_connection, greylist, random, unknown, mailbox_full.'],
    ['CPU seconds, peak RSS', 'Of the Sluice node process: utime + stime from /proc/PID/stat at the end; the peak of VmRSS sampled every 200 ms and VmHWM. Not measured with --target.'],
  ];
  return `<h2>What the figures mean</h2><dl>${terms.map(([t, d]) => `<dt>${esc(t)}</dt><dd>${esc(d)}</dd>`).join('')}</dl>`;
}
