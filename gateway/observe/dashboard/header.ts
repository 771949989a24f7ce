/** The header chips and the key-figure cards. */
import type { DashboardData, SeriesKind, StatsSnapshot } from './api-types.js';
import { state } from './client.js';
import { $, h } from './dom.js';
import { fmtAge, fmtNum, fmtPct, fmtRate, level } from './format.js';

export function renderCluster(d: DashboardData): void {
  const s = d.status;
  if (!s) return;
  const live = s.nodes.filter((n) => n.live).length;
  const active = d.alerts ? d.alerts.active.length : 0;
  const chips = [
    h('span', { class: 'chip' }, ['node ', h('b', null, [s.node]), ` v${s.version}`]),
    h('span', { class: 'chip' }, [h('span', { class: `dot ${s.state_healthy ? 'ok' : 'bad'}` }), 'state ', h('b', null, [s.state_backend]), s.state_healthy ? '' : ' degraded']),
    h('span', { class: 'chip' }, [h('span', { class: `dot ${live === s.nodes.length ? 'ok' : 'warn'}` }), h('b', null, [`${live}/${s.nodes.length}`]), ' nodes live']),
    active ? h('span', { class: 'chip' }, [h('span', { class: 'dot bad' }), h('b', null, [String(active)]), active === 1 ? ' alert' : ' alerts']) : null,
    s.draining ? h('span', { class: 'chip' }, [h('span', { class: 'dot warn' }), 'draining']) : null,
  ];
  $('cluster').replaceChildren(...chips.filter((c) => c !== null));
}

function kpi(label: string, value: string, sub: string, lvl?: string): HTMLElement {
  return h('div', { class: `kpi ${lvl ?? ''}` }, [
    h('div', { class: 'label' }, [label]),
    h('div', { class: 'value' }, [value]),
    h('div', { class: 'sub' }, [sub]),
  ]);
}

/**
 * The cards and the chart legend (away from the cursor) both show this: the mean rate over
 * the last RECENT_S seconds of the series, so the two never disagree.
 */
export const RECENT_S = 10;

export function tailRate(v: ArrayLike<number | null | undefined>, stepS: number, seconds: number): number {
  const n = Math.max(1, Math.min(v.length, Math.round(seconds / stepS)));
  let sum = 0;
  for (let i = v.length - n; i < v.length; i++) sum += v[i] ?? 0;
  return sum / n;
}

function recentRate(series: StatsSnapshot['series'], kind: SeriesKind, seconds: number): number {
  return tailRate(series[kind], series.step_s, seconds);
}

export function renderKpis(d: DashboardData): void {
  const st = d.stats;
  const s = d.status;
  const tiles: HTMLElement[] = [];
  if (st) {
    const t = st.totals;
    const wl = state.window;
    tiles.push(kpi('Delivering', `${fmtRate(recentRate(st.series, 'delivered', RECENT_S))}/s`, `${RECENT_S} s avg \u00b7 ${fmtNum(t.delivered)} in ${wl}`));
    tiles.push(kpi('Accepting', `${fmtRate(recentRate(st.series, 'queued', RECENT_S))}/s`, `${RECENT_S} s avg \u00b7 ${fmtNum(t.queued)} in ${wl}`));
  }
  if (s) {
    let depth = 0;
    let oldest = 0;
    for (const q of s.queue) {
      depth += q.depth;
      oldest = Math.max(oldest, q.oldest_seconds);
    }
    tiles.push(kpi('Queued', fmtNum(depth), `oldest ${fmtAge(oldest)}`, oldest > 3600 ? 'warn' : ''));
  }
  if (st) {
    const t = st.totals;
    tiles.push(kpi('Bounce rate', fmtPct(t.bounce_rate), `${fmtNum(t.bounced)} bounced`, level('bounce_rate', t.bounce_rate)));
    tiles.push(kpi('Complaint rate', fmtPct(t.complaint_rate), `${fmtNum(t.complained)} complaints`, level('complaint_rate', t.complaint_rate)));
    tiles.push(kpi('Deferral rate', fmtPct(t.deferral_rate), `${fmtNum(t.deferred)} deferred`, level('deferral_rate', t.deferral_rate)));
  }
  if (s) {
    const live = s.nodes.filter((n) => n.live).length;
    const healthy = live === s.nodes.length && s.state_healthy;
    tiles.push(kpi('Nodes', `${live} / ${s.nodes.length}`, s.state_healthy ? `state ${s.state_backend} ok` : 'state degraded', healthy ? 'ok' : 'bad'));
  }
  $('kpis').replaceChildren(...tiles);
}
