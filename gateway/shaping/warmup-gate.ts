/**
 * Warm-up caps ([warmup.NAME] start, daily): day N after `start` (UTC) allows daily[N]
 * messages from the source; past the list the source is warm (no cap). Counts live in the
 * state backend so every node draws on one budget.
 */
import type { Config } from '../config/schema.js';
import type { Clock, StateBackend } from '../state/types.js';

export class WarmupGate {
  /** Sources found at their cap, by UTC day. */
  private exhaustedOn = new Map<string, string>();

  constructor(
    private readonly config: Config,
    private readonly state: StateBackend,
    private readonly clock: Clock,
  ) {}

  /** Today's cap for a source, or null when it has no warm-up or is warm. */
  cap(source: string): number | null {
    const plan = this.config.sources[source]?.warmup;
    const w = plan ? this.config.warmup[plan] : undefined;
    if (!w) return null;
    const dayIndex = Math.floor((Date.parse(`${today(this.clock)}T00:00:00Z`) - Date.parse(`${w.start}T00:00:00Z`)) / 86_400_000);
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
    const ok = await this.state.warmup.take(source, today(this.clock), cap);
    if (!ok) this.exhaustedOn.set(source, today(this.clock));
    return ok;
  }

  async giveBack(source: string): Promise<void> {
    if (this.cap(source) === null) return;
    await this.state.warmup.giveBack(source, today(this.clock));
  }

  async used(source: string): Promise<number> {
    return this.state.warmup.used(source, today(this.clock));
  }
}

export function today(clock: Clock): string {
  return new Date(clock.now()).toISOString().slice(0, 10);
}
