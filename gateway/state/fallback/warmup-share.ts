import { utcDay } from '../embedded/checks.js';

const KEEP_MS = 3 * 86_400_000;

/**
 * Warm-up counting while the shared store is away. A node may use its share of what
 * was left when it last heard from Redis: floor((cap - used) / nodes); with no recent
 * figure it sends nothing from that warming source (it cannot tell how much is left).
 * Messages counted locally are pending until added to the shared counter.
 */
export class WarmupShare {
  readonly #lastUsed = new Map<string, number>();
  readonly #pending = new Map<string, number>();

  /** Records the shared count as Redis last reported it. */
  seen(source: string, day: string, used: number, now: number): void {
    this.#prune(now);
    this.#lastUsed.set(name(source, day), used);
  }

  take(source: string, day: string, cap: number, nodes: number): boolean {
    const key = name(source, day);
    const used = this.#lastUsed.get(key);
    if (used === undefined) return false;
    const pending = this.#pending.get(key) ?? 0;
    if (pending >= Math.floor(Math.max(0, cap - used) / Math.max(1, nodes))) return false;
    this.#pending.set(key, pending + 1);
    return true;
  }

  /** Gives back a locally counted message; false when there is none to give back. */
  giveBack(source: string, day: string): boolean {
    const key = name(source, day);
    const pending = this.#pending.get(key) ?? 0;
    if (pending === 0) return false;
    if (pending === 1) this.#pending.delete(key);
    else this.#pending.set(key, pending - 1);
    return true;
  }

  /** The best local estimate: last shared figure plus what this node counted since. */
  used(source: string, day: string): number | null {
    const key = name(source, day);
    const used = this.#lastUsed.get(key);
    return used === undefined ? null : used + (this.#pending.get(key) ?? 0);
  }

  pending(): { source: string; day: string; messages: number }[] {
    return [...this.#pending].map(([key, messages]) => {
      const [source = '', day = ''] = key.split('\n');
      return { source, day, messages };
    });
  }

  /** `messages` reached the shared counter, which now reads `used`. */
  flushed(source: string, day: string, messages: number, used: number): void {
    const key = name(source, day);
    const left = (this.#pending.get(key) ?? 0) - messages;
    if (left > 0) this.#pending.set(key, left);
    else this.#pending.delete(key);
    this.#lastUsed.set(key, used);
  }

  /** Old days go: the maps stay at (sources x a few days). Pending counts are kept until flushed. */
  #prune(now: number): void {
    const oldest = utcDay(now - KEEP_MS);
    for (const key of this.#lastUsed.keys()) {
      if ((key.split('\n')[1] ?? '') < oldest && !this.#pending.has(key)) this.#lastUsed.delete(key);
    }
  }
}

function name(source: string, day: string): string {
  return `${source}\n${day}`;
}
