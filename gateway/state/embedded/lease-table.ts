/**
 * Lease holders per key with their expiry times. Expired holders are dropped lazily
 * when a key is read, and by sweep() for keys nobody reads any more, so memory
 * follows the live leases, not every key ever used.
 */
export class LeaseTable {
  readonly #byKey = new Map<string, Map<string, number>>();

  /** Live holders of `key` at `now`. */
  count(key: string, now: number): number {
    return this.#live(key, now)?.size ?? 0;
  }

  holds(key: string, id: string, now: number): boolean {
    return this.#live(key, now)?.has(id) ?? false;
  }

  add(key: string, id: string, expiresAt: number): void {
    let holders = this.#byKey.get(key);
    if (holders === undefined) {
      holders = new Map();
      this.#byKey.set(key, holders);
    }
    holders.set(id, expiresAt);
  }

  remove(key: string, id: string): void {
    const holders = this.#byKey.get(key);
    if (holders === undefined) return;
    holders.delete(id);
    if (holders.size === 0) this.#byKey.delete(key);
  }

  sweep(now: number): void {
    for (const key of [...this.#byKey.keys()]) this.#live(key, now);
  }

  #live(key: string, now: number): Map<string, number> | undefined {
    const holders = this.#byKey.get(key);
    if (holders === undefined) return undefined;
    for (const [id, expiresAt] of holders) if (expiresAt <= now) holders.delete(id);
    if (holders.size > 0) return holders;
    this.#byKey.delete(key);
    return undefined;
  }
}
