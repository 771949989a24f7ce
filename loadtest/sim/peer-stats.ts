/**
 * What a provider sees of its peers: concurrent connections per peer IP (current and peak),
 * EHLO names per IP, and a sliding one-second window of messages per IP for rate limits.
 */

export interface PeerSnapshot {
  readonly peak_connections: number;
  readonly connections_total: number;
  readonly ehlo: readonly string[];
}

export class ConnectionTracker {
  private readonly current = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private readonly total = new Map<string, number>();
  private readonly ehlo = new Map<string, Set<string>>();
  private all = 0;
  private allPeak = 0;

  /** A TCP connection arrived; returns the number now open from that IP (this one included). */
  opened(ip: string): number {
    const n = (this.current.get(ip) ?? 0) + 1;
    this.current.set(ip, n);
    if (n > (this.peak.get(ip) ?? 0)) this.peak.set(ip, n);
    this.total.set(ip, (this.total.get(ip) ?? 0) + 1);
    this.all += 1;
    if (this.all > this.allPeak) this.allPeak = this.all;
    return n;
  }

  closed(ip: string): void {
    const n = (this.current.get(ip) ?? 0) - 1;
    this.current.set(ip, Math.max(0, n));
    this.all = Math.max(0, this.all - 1);
  }

  sawEhlo(ip: string, name: string): void {
    let names = this.ehlo.get(ip);
    if (!names) this.ehlo.set(ip, (names = new Set()));
    if (names.size < 20) names.add(name);
  }

  open(ip: string): number {
    return this.current.get(ip) ?? 0;
  }

  openTotal(): number {
    return this.all;
  }

  peakTotal(): number {
    return this.allPeak;
  }

  snapshot(): Map<string, PeerSnapshot> {
    const out = new Map<string, PeerSnapshot>();
    for (const [ip, peak] of this.peak) {
      out.set(ip, {
        peak_connections: peak,
        connections_total: this.total.get(ip) ?? 0,
        ehlo: [...(this.ehlo.get(ip) ?? [])].sort(),
      });
    }
    return out;
  }
}

/** Timestamps within the last `windowMs` per key; a growable ring of numbers per key. */
export class SlidingWindow {
  private readonly times = new Map<string, { t: number[]; head: number }>();
  constructor(private readonly windowMs = 1000) {}

  /** How many events for `key` fall in (now − window, now]. */
  count(key: string, now: number): number {
    const w = this.times.get(key);
    if (!w) return 0;
    this.prune(w, now);
    return w.t.length - w.head;
  }

  add(key: string, now: number): void {
    let w = this.times.get(key);
    if (!w) this.times.set(key, (w = { t: [], head: 0 }));
    w.t.push(now);
  }

  private prune(w: { t: number[]; head: number }, now: number): void {
    while (w.head < w.t.length && (w.t[w.head] ?? 0) <= now - this.windowMs) w.head += 1;
    if (w.head > 1024 && w.head * 2 > w.t.length) {
      w.t = w.t.slice(w.head);
      w.head = 0;
    }
  }
}
