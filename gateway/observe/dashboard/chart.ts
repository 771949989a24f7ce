/** The send-rate chart (uPlot, loaded by its own script tag; the tables work without it). */
import type { SeriesKind, StatsSnapshot } from './api-types.js';
import { state } from './client.js';
import { $, h } from './dom.js';
import { fmtRate } from './format.js';
import { RECENT_S, tailRate } from './header.js';

const SERIES: ReadonlyArray<readonly [SeriesKind, string, string]> = [
  ['delivered', 'Delivered', '#3fb950'],
  ['queued', 'Accepted', '#4aa3ff'],
  ['deferred', 'Deferred', '#d29922'],
  ['bounced', 'Bounced', '#f85149'],
  ['complained', 'Complaints', '#a371f7'],
];
const HEIGHT = 210;

function seriesOptions(): uPlot.Series[] {
  return [{}, ...SERIES.map(([, label, stroke], i): uPlot.Series => ({
    label,
    stroke,
    width: i === 0 ? 2 : 1.5,
    ...(i === 0 ? { fill: 'rgba(63,185,80,0.10)' } : {}),
    value: (u, v, sidx, idx) => {
      // No cursor over the chart (uPlot passes no index after a redraw) or the latest
      // step: the cards' figure, over the same seconds.
      if (idx == null || (!state.hover && idx === u.data[0].length - 1)) {
        return `${fmtRate(tailRate(u.data[sidx] ?? [], state.stepS || 1, RECENT_S))}/s`;
      }
      // uPlot's type says number, but a gap in the data arrives as null.
      return (v as number | null) === null ? '\u2013' : `${fmtRate(v)}/s`;
    },
  }))];
}

function makeChart(box: HTMLElement, data: uPlot.AlignedData): void {
  const width = Math.max(300, box.clientWidth);
  const axis: uPlot.Axis = {
    stroke: '#8796a8',
    grid: { stroke: '#1f2935', width: 1 },
    ticks: { stroke: '#1f2935', width: 1 },
    font: '11px system-ui, sans-serif',
  };
  state.chart = new uPlot({
    width,
    height: HEIGHT,
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [axis, { ...axis, size: 48, values: (_u, vals) => vals.map((v) => (v % 1 === 0 ? String(v) : v.toFixed(1))) }],
    series: seriesOptions(),
  }, data, box);
  state.chartWidth = width;
  box.addEventListener('mouseenter', () => {
    state.hover = true;
  });
  box.addEventListener('mouseleave', () => {
    state.hover = false;
    showLatest();
  });
  if ('ResizeObserver' in window) {
    new ResizeObserver(() => {
      const w = Math.max(300, box.clientWidth);
      if (state.chart && Math.abs(w - state.chartWidth) > 4) {
        state.chartWidth = w;
        state.chart.setSize({ width: w, height: HEIGHT });
      }
    }).observe(box);
  }
}

export function renderChart(stats: StatsSnapshot): void {
  const box = $('chart');
  const step = stats.series.step_s;
  $('chart-sub').textContent = `messages per second, last ${state.window}${step > 1 ? ` (${step} s steps)` : ''}; legend: last ${RECENT_S} s as on the cards, one step under the cursor`;
  state.stepS = step;
  const data: uPlot.AlignedData = [stats.series.t, ...SERIES.map(([kind]) => stats.series[kind])];
  if (typeof uPlot === 'undefined') {
    box.replaceChildren(h('div', { class: 'empty' }, ['chart unavailable (uPlot not loaded)']));
    return;
  }
  if (!state.chart) makeChart(box, data);
  else state.chart.setData(data);
  showLatest();
}

/** Away from the cursor, the legend shows the latest second's rates. */
function showLatest(): void {
  const u = state.chart;
  if (!u || state.hover || !u.data[0].length) return;
  u.setLegend({ idx: u.data[0].length - 1 });
}
