/**
 * Warm-up caps ([warmup.NAME] start, daily): day N after `start` (UTC) allows daily[N]
 * messages from the source; past the list the source is warm (no cap). Counts live in the
 * state backend so every node draws on one budget.
 */
import type { Config } from '../config/schema.js';
import type { Clock, StateBackend } from '../state/types.js';

const DAY_MS = 86_400_000;

/** Told once per source and UTC day, when the source first hits its cap on this node. */
export type WarmupExhaustedListener = (source: string, day: string, cap: number) => void;

export class WarmupGate {
  /** Sources found at their cap, by UTC day. */
  private exhaustedOn = new Map<string, string>();
  private readonly listeners: WarmupExhaustedListener[] = [];

  constructor(
    private readonly config: Config,
    private readonly state: StateBackend,
    private readonly clock: Clock,
  ) {}

  /** Adds a listener for "source reached today's cap" (the log line, the observer). */
  onExhausted(listener: WarmupExhaustedListener): void {
    this.listeners.push(listener);
  }

  /** Today's cap for a source, or null when it has no warm-up or is warm. */
  cap(source: string): number | null {
    const plan = this.config.sources[source]?.warmup;
    const w = plan ? this.config.warmup[plan] : undefined;
    if (!w) return null;
    const dayIndex = Math.floor((Date.parse(`${today(this.clock)}T00:00:00Z`) - Date.parse(`${w.start}T00:00:00Z`)) / DAY_MS);
    if (dayIndex < 0) return w.daily[0] ?? null;
    return dayIndex < w.daily.length ? (w.daily[dayIndex] as number) : null;
  }

  exhausted(source: string): boolean {
    return this.exhaustedOn.get(source) === today(this.clock);
  }

  /** Takes one message from today's budget; false (and marks the source) at the cap. */
  async take(source: string): Promise<boolean> {
    const cap = this.cap(source);
    if (cap === null) return true;
    const day = today(this.clock);
    const ok = await this.state.warmup.take(source, day, cap);
    if (!ok && this.exhaustedOn.get(source) !== day) {
      this.exhaustedOn.set(source, day);
      for (const l of this.listeners) l(source, day, cap);
    }
    return ok;
  }

  async giveBack(source: string): Promise<void> {
    if (this.cap(source) === null) return;
    await this.state.warmup.giveBack(source, today(this.clock));
  }

  async used(source: string): Promise<number> {
    return this.state.warmup.used(source, today(this.clock));
  }

  /** When today's caps end: the next 00:00 UTC, in ms since the epoch. */
  nextDayAt(): number {
    return (Math.floor(this.clock.now() / DAY_MS) + 1) * DAY_MS;
  }
}

export function today(clock: Clock): string {
  return new Date(clock.now()).toISOString().slice(0, 10);
}
