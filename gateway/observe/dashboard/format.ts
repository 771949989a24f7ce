/** How the dashboard writes numbers, rates, ages and times. */

const DASH = '\u2013';

export function fmtNum(n: number | null | undefined): string {
  if (n === null || n === undefined) return DASH;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRate(n: number | null | undefined): string {
  if (!n) return '0';
  return n >= 100 ? Math.round(n).toString() : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Bytes in binary units: "512 MB", "1.5 GB". */
export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return DASH;
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function fmtPct(r: number | null | undefined): string {
  if (r === null || r === undefined) return DASH;
  const p = r * 100;
  return `${p === 0 ? '0' : p < 1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

export function fmtAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** When a hold ends: "until 14:30", or "until lifted". */
export function fmtTime(iso: string | null): string {
  if (!iso) return 'until lifted';
  return `until ${new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

export function since(iso: string | null): string {
  return iso ? `${fmtAge((Date.now() - new Date(iso).getTime()) / 1000)} ago` : '';
}

/** Thresholds for colouring, as mailbox providers publish them (bounce 2/5 %, complaints 0.1/0.3 %). */
const LIMITS: Readonly<Record<string, readonly [number, number]>> = {
  bounce_rate: [0.02, 0.05],
  complaint_rate: [0.001, 0.003],
  deferral_rate: [0.1, 0.25],
};

export type Level = 'ok' | 'warn' | 'bad';

export function level(metric: string, r: number | null | undefined): Level {
  if (r === null || r === undefined) return 'ok';
  const l = LIMITS[metric];
  if (!l) return 'ok';
  return r >= l[1] ? 'bad' : r >= l[0] ? 'warn' : 'ok';
}
