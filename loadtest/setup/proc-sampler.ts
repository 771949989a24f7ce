import { readFileSync } from 'node:fs';

/**
 * CPU and memory of one process from /proc (Linux): VmRSS sampled every `intervalMs`
 * (default 200 ms) for the peak, VmHWM at the end as the kernel's own peak, and
 * utime + stime (+ cutime + cstime of reaped children) for CPU seconds.
 */
export interface ProcUsage {
  readonly cpu_s: number;
  readonly rss_peak_mb: number;
}

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat counts in these ticks

export class ProcSampler {
  private timer: NodeJS.Timeout | null = null;
  private peakKb = 0;
  private lastCpu = 0;
  readonly rssSeries: { t: number; mb: number }[] = [];

  constructor(
    private readonly pidOf: () => number,
    private readonly now: () => number,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Call while the process still runs: after it exits /proc has nothing left to read. */
  finish(): ProcUsage {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const hwm = readStatusKb(this.pidOf(), 'VmHWM');
    if (hwm !== null) this.peakKb = Math.max(this.peakKb, hwm);
    return { cpu_s: round(this.lastCpu, 2), rss_peak_mb: round(this.peakKb / 1024, 1) };
  }

  private sample(): void {
    const rss = readStatusKb(this.pidOf(), 'VmRSS');
    if (rss !== null) {
      this.peakKb = Math.max(this.peakKb, rss);
      if (this.rssSeries.length < 100_000) this.rssSeries.push({ t: this.now(), mb: rss / 1024 });
    }
    const cpu = readCpuSeconds(this.pidOf());
    if (cpu !== null) this.lastCpu = cpu;
  }
}

export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": comm may hold spaces; state is field 3, utime 14 … cstime 17
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0);
    return ticks / CLK_TCK;
  } catch {
    return null;
  }
}

export function readStatusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
