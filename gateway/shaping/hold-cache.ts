/**
 * Pauses and suspensions, read from the state backend once a second so that choosing a
 * source costs no round trip. A hold set on this node is visible at once; one set on a
 * peer within a refresh.
 */
import type { Clock, Hold, StateBackend } from '../state/types.js';

export class HoldCache {
  private byScope = new Map<string, Hold>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly state: StateBackend,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(refreshMs = 1_000): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  held(scope: string): Hold | null {
    const h = this.byScope.get(scope);
    if (!h) return null;
    if (h.until !== null && h.until <= this.clock.now()) return null;
    return h;
  }

  all(): Hold[] {
    return [...this.byScope.values()].filter((h) => h.until === null || h.until > this.clock.now());
  }

  async set(hold: Hold): Promise<void> {
    this.byScope.set(hold.scope, hold);
    await this.state.holds.set(hold);
  }

  async lift(scope: string): Promise<boolean> {
    const had = this.byScope.delete(scope);
    return (await this.state.holds.lift(scope)) || had;
  }

  async refresh(): Promise<void> {
    try {
      const holds = await this.state.holds.all();
      this.byScope = new Map(holds.map((h) => [h.scope, h]));
    } catch (err) {
      // Keep the last known holds: a paused source stays paused while the backend is away.
      this.onError(err);
    }
  }
}
