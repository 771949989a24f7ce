import type { SuppressionEntry } from '../types.js';
import { reasonAt, reasonIndex } from './suppression-key.js';

const INITIAL_CAPACITY = 1024;

/**
 * The live suppression set, sized for millions of entries. A Map from key to a slot
 * number (a small integer, so V8 stores it unboxed) and one typed array per field:
 * about 13 bytes of fields per entry instead of a ~100-byte object, and O(1) lookups.
 * Sources are interned: there are a handful ("cli", "delivery", plugin names).
 */
export class SuppressionTable {
  readonly #slots = new Map<string, number>();
  #at = new Float64Array(INITIAL_CAPACITY);
  #reason = new Uint8Array(INITIAL_CAPACITY);
  #source = new Uint32Array(INITIAL_CAPACITY);
  #nextSlot = 0;
  readonly #freeSlots: number[] = [];
  readonly #sources: string[] = [];
  readonly #sourceIds = new Map<string, number>();

  get size(): number {
    return this.#slots.size;
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  get(key: string): SuppressionEntry | null {
    const slot = this.#slots.get(key);
    return slot === undefined ? null : this.#entryAt(key, slot);
  }

  /** Adds or replaces; true when the key was not there. `key` must already be normalised. */
  set(key: string, entry: SuppressionEntry): boolean {
    let slot = this.#slots.get(key);
    const isNew = slot === undefined;
    if (slot === undefined) {
      slot = this.#takeSlot();
      this.#slots.set(key, slot);
    }
    this.#at[slot] = entry.at;
    this.#reason[slot] = reasonIndex(entry.reason);
    this.#source[slot] = this.#sourceId(entry.source);
    return isNew;
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#slots.delete(key);
    this.#freeSlots.push(slot);
    return true;
  }

  /** Live iteration: entries added while iterating may or may not be seen (Map semantics). */
  *entries(): IterableIterator<SuppressionEntry> {
    for (const [key, slot] of this.#slots) yield this.#entryAt(key, slot);
  }

  #entryAt(key: string, slot: number): SuppressionEntry {
    return {
      address: key,
      reason: reasonAt(this.#reason[slot] ?? 0),
      source: this.#sources[this.#source[slot] ?? 0] ?? '',
      at: this.#at[slot] ?? 0,
    };
  }

  #takeSlot(): number {
    const reused = this.#freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.#nextSlot === this.#at.length) this.#grow();
    return this.#nextSlot++;
  }

  #grow(): void {
    const capacity = this.#at.length * 2;
    const at = new Float64Array(capacity);
    at.set(this.#at);
    const reason = new Uint8Array(capacity);
    reason.set(this.#reason);
    const source = new Uint32Array(capacity);
    source.set(this.#source);
    this.#at = at;
    this.#reason = reason;
    this.#source = source;
  }

  #sourceId(source: string): number {
    let id = this.#sourceIds.get(source);
    if (id === undefined) {
      id = this.#sources.length;
      this.#sources.push(source);
      this.#sourceIds.set(source, id);
    }
    return id;
  }
}
