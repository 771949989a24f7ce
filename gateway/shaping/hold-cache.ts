/**
 * Holds, read from the state backend once a second so that choosing a
 * source costs no round trip. A hold set on this node is visible at once; one set on a
 * peer within a refresh. A hold set while the backend is away (Redis down) stays in
 * force on this node and is stored at the next refresh that reaches the backend.
 */
import type { Clock, Hold, StateBackend } from '../state/types.js';

export class HoldCache {
  private byScope = new Map<string, Hold>();
  /** Counts local sets and lifts, so a refresh that raced one does not undo it. */
  private changes = 0;
  /** Holds set here whose write failed: stored again at the next refresh. */
  private readonly unsaved = new Map<string, Hold>();
  /** Holds set here whose write is still under way. */
  private readonly storing = new Map<string, Hold>();
  /** Scopes lifted here whose lift the backend has not finished storing. */
  private readonly lifting = new Set<string>();
  /** The end of the latest hold seen per scope, kept after it lapses (health counts restart there). */
  private readonly lastUntil = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  /**
   * `onError` hears the first failure of an outage (not one per refresh);
   * `onRecovered` hears the first refresh that works again.
   */
  constructor(
    private readonly state: StateBackend,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
    private readonly onRecovered: () => void = () => undefined,
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
    const h = this.unsaved.get(scope) ?? this.byScope.get(scope);
    if (!h) return null;
    if (h.until !== null && h.until <= this.clock.now()) return null;
    return h;
  }

  all(): Hold[] {
    const now = this.clock.now();
    const merged = new Map([...this.byScope, ...this.unsaved]);
    return [...merged.values()].filter((h) => h.until === null || h.until > now);
  }

  /** When the latest hold on `scope` ended or will end (null: none seen, or until lifted). */
  endOf(scope: string): number | null {
    return this.lastUntil.get(scope) ?? null;
  }

  /** Holds `hold.scope` here at once; rejects when the backend could not store it (it stays held here). */
  async set(hold: Hold): Promise<void> {
    this.changes++;
    this.byScope.set(hold.scope, hold);
    this.lifting.delete(hold.scope);
    // A refresh that reads before the write lands (holds.json is fsync'd first; Redis is
    // a round trip away) must not drop the hold: it stays in `storing` until then.
    this.storing.set(hold.scope, hold);
    this.remember(hold);
    try {
      await this.state.holds.set(hold);
      this.unsaved.delete(hold.scope);
    } catch (err) {
      this.unsaved.set(hold.scope, hold);
      throw err;
    } finally {
      if (this.storing.get(hold.scope) === hold) this.storing.delete(hold.scope);
    }
  }

  async lift(scope: string): Promise<boolean> {
    this.changes++;
    const cached = this.byScope.delete(scope);
    this.storing.delete(scope);
    const had = this.unsaved.delete(scope) || cached;
    this.lastUntil.set(scope, this.clock.now());
    this.lifting.add(scope);
    try {
      return (await this.state.holds.lift(scope)) || had;
    } finally {
      this.lifting.delete(scope);
    }
  }

  async refresh(): Promise<void> {
    try {
      await this.saveUnsaved();
      const seen = this.changes;
      const holds = await this.state.holds.all();
      // A hold set or lifted here while the read was under way is newer than what it
      // returned: keep ours this round (the next refresh reads it back), or a fresh hold
      // would vanish for a second and the source keep sending.
      if (seen !== this.changes) return;
      this.byScope = new Map(holds.filter((h) => !this.lifting.has(h.scope)).map((h) => [h.scope, h]));
      for (const [scope, h] of this.storing) this.byScope.set(scope, h);
      for (const h of holds) this.remember(h);
      if (this.failing) this.onRecovered();
      this.failing = false;
    } catch (err) {
      // Keep the last known holds: a held source stays held while the backend is away.
      if (!this.failing) this.onError(err);
      this.failing = true;
    }
  }

  private async saveUnsaved(): Promise<void> {
    const now = this.clock.now();
    for (const [scope, hold] of [...this.unsaved]) {
      if (hold.until !== null && hold.until <= now) {
        this.unsaved.delete(scope);
        continue;
      }
      await this.state.holds.set(hold);
      this.unsaved.delete(scope);
    }
  }

  private remember(hold: Hold): void {
    if (hold.until !== null) this.lastUntil.set(hold.scope, hold.until);
  }
}
