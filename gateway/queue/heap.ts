/** A binary min-heap ordered by a numeric key; the waiting queue keys by next attempt time. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly key: (item: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.key(a[parent] as T) <= this.key(item)) break;
      a[i] = a[parent] as T;
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      const k = this.key(last);
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && this.key(a[r] as T) < this.key(a[l] as T) ? r : l;
        if (this.key(a[c] as T) >= k) break;
        a[i] = a[c] as T;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  /** Removes every item for which `drop` is true (rare: flushes and admin actions). */
  filter(keep: (item: T) => boolean): T[] {
    const removed = this.items.filter((x) => !keep(x));
    const kept = this.items.filter(keep);
    this.items.length = 0;
    for (const x of kept) this.push(x);
    return removed;
  }

  toArray(): readonly T[] {
    return this.items;
  }
}
