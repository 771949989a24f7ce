import type { Bin } from './stats.js';

/** Inline SVG charts for the HTML report, drawn by hand: no library, no external asset. */

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
}

export interface Marker {
  readonly at: number;
  readonly label: string;
}

const W = 860;
const H = 300;
const PAD = { left: 64, right: 20, top: 34, bottom: 46 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1, 2, 5 × 10^k steps so that about `count` ticks cover [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Rates as lines over time: value i covers [i·bucket, (i+1)·bucket) seconds since the first message. */
export function lineChart(title: string, yLabel: string, series: readonly LineSeries[], bucketS = 1): string {
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const spanS = (n - 1) * bucketS;
  const yTicks = niceTicks(Math.max(1, ...series.flatMap((s) => s.values)));
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const x = (i: number): number => PAD.left + (i / (n - 1)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const parts = [frame(title, `seconds since the first message (${bucketS} s steps)`, yLabel)];
  for (const t of yTicks) parts.push(hGrid(y(t), fmt(t)));
  for (const t of niceTicks(spanS, 8)) if (t <= spanS) parts.push(vTick(x(t / bucketS), fmt(t)));
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"><title>${escapeXml(s.name)}</title></polyline>`);
    s.values.forEach((v, i) => {
      parts.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${s.color}"><title>${escapeXml(`${s.name} at ${fmt(i * bucketS)} s: ${v}`)}</title></circle>`);
    });
    parts.push(legend(k, s.name, s.color));
  });
  return svg(parts, title);
}

/** A histogram on a log axis, with vertical markers (the percentiles). */
export function histogramChart(title: string, xLabel: string, bins: readonly Bin[], markers: readonly Marker[]): string {
  if (bins.length === 0) return svg([frame(title, xLabel, 'messages'), `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text>`], title);
  const lo = Math.log10(bins[0]?.from ?? 1);
  const hi = Math.log10(bins[bins.length - 1]?.to ?? 10);
  const x = (v: number): number => PAD.left + ((Math.log10(v) - lo) / (hi - lo || 1)) * (W - PAD.left - PAD.right);
  const yTicks = niceTicks(Math.max(1, ...bins.map((b) => b.count)));
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const y = (v: number): number => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const parts = [frame(title, xLabel, 'messages')];
  for (const t of yTicks) parts.push(hGrid(y(t), fmt(t)));
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) parts.push(vTick(x(10 ** d), fmt(10 ** d)));
  for (const b of bins) {
    const x0 = x(b.from);
    const w = Math.max(1, x(b.to) - x0 - 1);
    const label = `${fmt(b.from)}–${fmt(b.to)} ms: ${b.count}`;
    parts.push(`<rect x="${x0.toFixed(1)}" y="${y(b.count).toFixed(1)}" width="${w.toFixed(1)}" height="${(H - PAD.bottom - y(b.count)).toFixed(1)}" fill="#4c78a8"><title>${escapeXml(label)}</title></rect>`);
  }
  markers.forEach((m, k) => {
    if (!(m.at > 0)) return;
    const mx = Math.min(W - PAD.right, Math.max(PAD.left, x(m.at))).toFixed(1);
    parts.push(`<line x1="${mx}" x2="${mx}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#e45756" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${mx}" y="${PAD.top - 4 + (k % 2) * -12 + 12}" font-size="11" fill="#e45756" text-anchor="middle">${escapeXml(m.label)}</text>`);
  });
  return svg(parts, title);
}

function svg(parts: readonly string[], title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeXml(title)}" font-family="system-ui, sans-serif" font-size="12">\n${parts.join('\n')}\n</svg>`;
}

function frame(title: string, xLabel: string, yLabel: string): string {
  return [
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${PAD.left}" y="20" font-size="14" font-weight="600">${escapeXml(title)}</text>`,
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#333"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#333"/>`,
    `<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 8}" text-anchor="middle" fill="#555">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(16 ${(PAD.top + H - PAD.bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${escapeXml(yLabel)}</text>`,
  ].join('\n');
}

function hGrid(y: number, label: string): string {
  return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/><text x="${PAD.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#555">${escapeXml(label)}</text>`;
}

function vTick(x: number, label: string): string {
  const b = H - PAD.bottom;
  return `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${b}" y2="${b + 5}" stroke="#333"/><text x="${x.toFixed(1)}" y="${b + 18}" text-anchor="middle" fill="#555">${escapeXml(label)}</text>`;
}

function legend(k: number, name: string, color: string): string {
  const x = W - PAD.right - 180;
  const y = PAD.top + 4 + k * 18;
  return `<rect x="${x}" y="${y}" width="12" height="12" fill="${color}"/><text x="${x + 18}" y="${y + 11}">${escapeXml(name)}</text>`;
}

function fmt(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (v >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}
