/**
 * Label values with a bound on how many there can be. Prometheus keeps one series per
 * distinct label set, so a label fed from message content (X-Campaign-ID) or from a
 * growing set (provider sites) must never take unbounded values (STYLE.md
 * "Observability habits").
 */
import { systemClock, type Clock } from '../state/types.js';

export const NONE = 'none';
export const OTHER = 'other';

/** At most `max` distinct values, first come first kept; the rest read "other". */
export class BoundedLabel {
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  value(raw: string | null): string {
    if (raw === null || raw === '') return NONE;
    if (this.#seen.has(raw)) return raw;
    if (raw.length > 128 || this.#seen.size >= this.#max) return OTHER;
    this.#seen.add(raw);
    return raw;
  }
}

export interface CampaignLabelerOptions {
  /** How many campaigns get a label of their own (default 20). */
  readonly top?: number;
  /** Every `decay_ms` all volumes halve, so last month's big campaign makes room (default 1h). */
  readonly decay_ms?: number;
  readonly clock?: Clock;
}

/** Campaign ids that can be a label: short tokens, never an address or a Message-ID. */
const CAMPAIGN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * Maps X-Campaign-ID to a label: the top N campaigns by (decaying) volume keep their
 * name, everything else is "other", a message without one is "none".
 *
 * Volumes are estimated with the Space-Saving sketch (Metwally et al. 2005) over
 * `8 × top` slots, so memory stays fixed however many campaigns go by. A campaign
 * outside the labelled set takes the place of the smallest labelled one once it has
 * twice its volume; `onEvict` lets the metrics drop the evicted campaign's series so the
 * number of series stays bounded too.
 */
export class CampaignLabeler {
  readonly #top: number;
  readonly #capacity: number;
  readonly #decayMs: number;
  readonly #clock: Clock;
  readonly #volume = new Map<string, number>();
  readonly #labelled = new Set<string>();
  #lastDecay: number;
  onEvict: ((campaign: string) => void) | null = null;

  constructor(options: CampaignLabelerOptions = {}) {
    this.#top = Math.max(0, options.top ?? 20);
    this.#capacity = Math.max(64, this.#top * 8);
    this.#decayMs = options.decay_ms ?? 3_600_000;
    this.#clock = options.clock ?? systemClock;
    this.#lastDecay = this.#clock.now();
  }

  /** Counts one message for `raw` and answers the label to use for it. */
  label(raw: string | null): string {
    if (raw === null) return NONE;
    const id = raw.trim();
    if (id === '') return NONE;
    if (!CAMPAIGN_ID.test(id)) return OTHER;
    this.#decay();
    const volume = this.#count(id);
    if (this.#labelled.has(id)) return id;
    if (this.#labelled.size < this.#top) {
      this.#labelled.add(id);
      return id;
    }
    const weakest = this.#weakestLabelled();
    if (weakest === null || volume < 2 * weakest.volume) return OTHER;
    this.#labelled.delete(weakest.id);
    this.#labelled.add(id);
    this.onEvict?.(weakest.id);
    return id;
  }

  /** The campaigns that currently have a label of their own. */
  labelled(): string[] {
    return [...this.#labelled];
  }

  #count(id: string): number {
    const known = this.#volume.get(id);
    if (known !== undefined) {
      this.#volume.set(id, known + 1);
      return known + 1;
    }
    if (this.#volume.size < this.#capacity) {
      this.#volume.set(id, 1);
      return 1;
    }
    // Space-Saving: the newcomer inherits the smallest count (an over-estimate by at most that).
    let minId: string | null = null;
    let min = Infinity;
    for (const [k, v] of this.#volume) {
      if (v < min && !this.#labelled.has(k)) {
        min = v;
        minId = k;
      }
    }
    if (minId === null) return 1;
    this.#volume.delete(minId);
    this.#volume.set(id, min + 1);
    return min + 1;
  }

  #weakestLabelled(): { id: string; volume: number } | null {
    let weakest: { id: string; volume: number } | null = null;
    for (const id of this.#labelled) {
      const volume = this.#volume.get(id) ?? 0;
      if (weakest === null || volume < weakest.volume) weakest = { id, volume };
    }
    return weakest;
  }

  #decay(): void {
    const now = this.#clock.now();
    if (this.#decayMs <= 0 || now - this.#lastDecay < this.#decayMs) return;
    const halvings = Math.min(30, Math.floor((now - this.#lastDecay) / this.#decayMs));
    this.#lastDecay += halvings * this.#decayMs;
    for (const [k, v] of this.#volume) {
      const next = Math.floor(v / 2 ** halvings);
      if (next === 0 && !this.#labelled.has(k)) this.#volume.delete(k);
      else this.#volume.set(k, next);
    }
  }
}
