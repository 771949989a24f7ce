/** The sources and providers tables, with their per-window figures. */
import type { DashboardData, ProviderStatus, RateView, SourceStatus, StatsRow } from './api-types.js';
import { $, actionButton, h, type Act } from './dom.js';
import { fmtAge, fmtNum, fmtPct, fmtTime, level } from './format.js';

function byKey(rows: readonly StatsRow[] | undefined): Map<string, StatsRow> {
  return new Map((rows ?? []).map((r) => [r.key, r]));
}

/** Delivery attempts (each try counts: a deferral and the later delivery are two), not messages. */
function sent(r: StatsRow | undefined): number {
  return r ? r.delivered + r.deferred + r.bounced : 0;
}

function pctCell(metric: string, r: number | null | undefined, count: number): HTMLElement {
  return h('td', { class: 'num', 'data-col': metric }, [
    h('span', { class: `pct-${level(metric, r)}` }, [fmtPct(r)]),
    h('span', { class: 'sub-line' }, [fmtNum(count)]),
  ]);
}

function attemptsCell(r: StatsRow | undefined): HTMLElement {
  const cell = pctCell('delivered', r && sent(r) ? r.delivered / sent(r) : null, r ? r.delivered : 0);
  if (cell.lastChild) cell.lastChild.textContent = `${fmtNum(r ? r.delivered : 0)} of ${fmtNum(sent(r))} attempts`;
  return cell;
}

/** The deferral, bounce and complaint cells of a row. */
function rateCells(r: StatsRow | undefined): HTMLElement[] {
  return [
    pctCell('deferral_rate', r ? r.deferral_rate : null, r ? r.deferred : 0),
    pctCell('bounce_rate', r ? r.bounce_rate : null, r ? r.bounced : 0),
    pctCell('complaint_rate', r ? r.complaint_rate : null, r ? r.complained : 0),
  ];
}

function sourceStatus(s: SourceStatus): HTMLElement {
  if (s.held) return h('span', { class: 'status', title: `${s.held.reason} (by ${s.held.by})` }, [h('span', { class: 'dot bad' }), 'held']);
  if (s.held_toward.length) {
    return h('span', { class: 'status', title: s.held_toward.map((x) => `${x.provider}: ${x.reason}`).join('; ') }, [
      h('span', { class: 'dot warn' }),
      h('span', null, ['held', h('span', { class: 'sub-line' }, [`\u2192 ${s.held_toward.map((x) => x.provider).join(', ')}`])]),
    ]);
  }
  if (s.node !== null && !s.node_live) return h('span', { class: 'status' }, [h('span', { class: 'dot bad' }), 'node down']);
  return h('span', { class: 'status' }, [h('span', { class: 'dot ok' }), 'active']);
}

function warmupCell(w: SourceStatus['warmup']): HTMLElement {
  if (!w) return h('td', { class: 'warm' }, [h('span', { class: 'muted small' }, ['full volume'])]);
  const pct = w.cap > 0 ? Math.min(100, (w.used / w.cap) * 100) : 100;
  return h('td', { class: 'warm', title: `schedule ${w.schedule}, ${w.day}` }, [
    h('div', { class: `bar${pct >= 100 ? ' full' : ''}` }, [h('span', { width: `${pct.toFixed(1)}%` })]),
    h('div', { class: 'bar-label' }, [h('span', null, [`${fmtNum(w.used)} / ${fmtNum(w.cap)}`]), h('span', null, [`${Math.round(pct)}%`])]),
  ]);
}

function sourceRow(s: SourceStatus, r: StatsRow | undefined, act: Act): HTMLElement {
  const enc = encodeURIComponent(s.name);
  const held = s.held || s.held_toward.length;
  return h('tr', { 'data-source': s.name }, [
    h('td', null, [h('span', { class: 'name' }, [s.name]), h('span', { class: 'sub-line' }, [s.ehlo])]),
    h('td', null, [h('span', { class: 'ip' }, [s.ip]), h('span', { class: 'sub-line' }, [s.node ? `on ${s.node}` : 'any node'])]),
    h('td', { class: 'wrap' }, s.pools.map((p) => h('span', { class: 'tag' }, [p]))),
    h('td', null, [sourceStatus(s)]),
    warmupCell(s.warmup),
    h('td', { class: 'num', 'data-col': 'sent' }, [fmtNum(sent(r)), h('span', { class: 'sub-line' }, [`${s.connections} conn`])]),
    attemptsCell(r),
    ...rateCells(r),
    h('td', { class: 'num' }, [held
      ? actionButton(act, 'Lift', 'lift', `/api/sources/${enc}/lift`)
      : actionButton(act, 'Hold', 'hold', `/api/sources/${enc}/hold`, { reason: 'held from the dashboard' })]),
  ]);
}

function fillBody(tableId: string, rows: HTMLElement[], empty: string): void {
  const body = $(tableId).querySelector('tbody');
  if (!body) return;
  body.replaceChildren(...(rows.length ? rows : [h('tr', null, [h('td', { colspan: 11, class: 'empty' }, [empty])])]));
}

export function renderSources(d: DashboardData, act: Act): void {
  if (!d.sources) return;
  const stats = byKey(d.stats?.by_source);
  fillBody('sources', d.sources.sources.map((s) => sourceRow(s, stats.get(s.name), act)), 'no sources configured');
}

/** "50/s, burst 5" per source, the fleet total under it; what each keeps on hover (docs/SHAPING.md). */
function withBurst(r: RateView): string {
  return r.max_message_rate + (r.max_message_burst === null ? '' : `, burst ${r.max_message_burst}`);
}

function rateCell(p: ProviderStatus): HTMLElement {
  const keeps: string[] = [];
  if (p.rate_guarantee) keeps.push(`per source: ${p.rate_guarantee}`);
  if (p.total?.rate_guarantee) keeps.push(`total: ${p.total.rate_guarantee}`);
  return h('td', { class: 'num', 'data-col': 'rate', title: keeps.length ? keeps.join('\n') : null }, [
    withBurst(p),
    p.total ? h('span', { class: 'sub-line' }, [`total ${withBurst(p.total)}`]) : null,
  ]);
}

function providerRow(p: ProviderStatus, r: StatsRow | undefined): HTMLElement {
  const holds = [
    ...(p.held ? [h('span', { class: 'tag', title: p.held.reason }, [`every source ${fmtTime(p.held.until)}`])] : []),
    ...p.held_sources.map((x) => h('span', { class: 'tag', title: x.reason }, [`${x.source} ${fmtTime(x.until)}`])),
  ];
  const held = holds.length ? holds : [h('span', { class: 'muted' }, ['none'])];
  return h('tr', null, [
    h('td', { class: 'name' }, [p.name]),
    h('td', { class: 'num' }, [`${p.connections} / ${p.max_connections}`]),
    rateCell(p),
    h('td', { class: 'num' }, [fmtNum(p.queue_depth)]),
    h('td', { class: 'num' }, [fmtAge(p.oldest_seconds)]),
    h('td', { class: 'num' }, [fmtNum(sent(r))]),
    attemptsCell(r),
    ...rateCells(r),
    h('td', null, held),
  ]);
}

export function renderProviders(d: DashboardData): void {
  if (!d.providers) return;
  const stats = byKey(d.stats?.by_provider);
  fillBody('providers', d.providers.providers.map((p) => providerRow(p, stats.get(p.name))), 'no providers');
}
