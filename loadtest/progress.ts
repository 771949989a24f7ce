/** Progress on stderr: a redrawn bar on a terminal, else a plain line every few seconds. */

export interface ProgressSnapshot {
  readonly phase: string;
  readonly messages: number;
  readonly accepted: number;
  readonly delivered: number;
}

export interface ProgressOutput {
  write(s: string): unknown;
  readonly isTTY?: boolean;
}

export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private last = { t: 0, accepted: 0, delivered: 0 };
  private readonly started = Date.now();

  constructor(
    private readonly out: ProgressOutput,
    private readonly snapshot: () => ProgressSnapshot,
    private readonly intervalMs = out.isTTY ? 250 : 5000,
  ) {}

  start(): void {
    this.last = { t: Date.now(), accepted: 0, delivered: 0 };
    this.timer = setInterval(() => this.draw(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.out.isTTY) this.out.write('\r\x1b[K');
  }

  /** A line for the log (setup steps), kept apart from the bar. */
  say(text: string): void {
    this.out.write(this.out.isTTY ? `\r\x1b[K${text}\n` : `${text}\n`);
  }

  private draw(): void {
    const s = this.snapshot();
    const now = Date.now();
    const dt = Math.max(0.001, (now - this.last.t) / 1000);
    const aRate = Math.round((s.accepted - this.last.accepted) / dt);
    const dRate = Math.round((s.delivered - this.last.delivered) / dt);
    this.last = { t: now, accepted: s.accepted, delivered: s.delivered };
    const elapsed = ((now - this.started) / 1000).toFixed(0);
    const text = `${s.phase.padEnd(8)} accepted ${s.accepted}/${s.messages} (${aRate}/s)  delivered ${s.delivered} (${dRate}/s)  ${elapsed}s`;
    if (this.out.isTTY) this.out.write(`\r\x1b[K${bar(s.delivered, s.accepted, s.messages)} ${text}`);
    else this.out.write(`loadtest: ${text}\n`);
  }
}

/** Two-tone bar: '#' delivered, '=' accepted and not yet delivered. */
function bar(delivered: number, accepted: number, total: number, width = 24): string {
  const d = total ? Math.round((delivered / total) * width) : 0;
  const a = total ? Math.max(d, Math.round((accepted / total) * width)) : 0;
  return `[${'#'.repeat(d)}${'='.repeat(a - d)}${' '.repeat(Math.max(0, width - a))}]`;
}
