/**
 * A rolling per-second count of outcomes per (pool, source, provider), in memory: the
 * live numbers behind /api/stats and the rate alerts. One ring of one-second slots
 * (an hour by default); a slot holds only the keys that had an outcome in that second,
 * so memory follows traffic and never exceeds span × keys. Time comes from the
 * injected Clock when the outcome is recorded, so windows line up with the queries.
 */
import { systemClock, type Clock } from '../state/types.js';
import { OUTCOME_EVENT_KINDS, type AlertScope, type OutcomeEventKind } from './event-types.js';

export interface OutcomeStatsOptions {
  readonly node: string;
  readonly clock?: Clock;
  /** How far back windows can reach (default 1 hour). */
  readonly span_ms?: number;
  /** Distinct (pool, source, provider) keys kept apart; later ones count as "other" (default 10000). */
  readonly max_keys?: number;
}

export type OutcomeCounts = Record<OutcomeEventKind, number>;

export interface OutcomeRates {
  /** bounced / (delivered + bounced); null without traffic. */
  readonly bounce_rate: number | null;
  /** complained / delivered; null when nothing was delivered. */
  readonly complaint_rate: number | null;
  /** deferred / (delivered + deferred + bounced): the share of attempts that failed temporarily. */
  readonly deferral_rate: number | null;
}

export interface OutcomeKey {
  readonly pool: string;
  readonly source: string | null;
  readonly provider: string | null;
}

export type StatsRow = { readonly key: string } & OutcomeCounts & OutcomeRates;

export interface StatsSnapshot {
  readonly node: string;
  readonly at: string;
  readonly window_s: number;
  readonly totals: OutcomeCounts & OutcomeRates;
  readonly by_source: readonly StatsRow[];
  readonly by_provider: readonly StatsRow[];
  readonly by_pool: readonly StatsRow[];
  /**
   * Per-second rates averaged over each step, oldest first, ending with the last whole
   * second; `t` is each step's first second (Unix time).
   */
  readonly series: { readonly step_s: number; readonly t: readonly number[] } & Record<OutcomeEventKind, readonly number[]>;
}

/** What /api/stats needs; the lead may swap in a cluster-wide implementation. */
export interface StatsReader {
  snapshot(windowMs: number): StatsSnapshot | Promise<StatsSnapshot>;
}

const KINDS = OUTCOME_EVENT_KINDS.length;
const KIND_INDEX = new Map<OutcomeEventKind, number>(OUTCOME_EVENT_KINDS.map((k, i) => [k, i]));
const NO_VALUE = '-';

export function emptyCounts(): OutcomeCounts {
  return { queued: 0, delivered: 0, deferred: 0, bounced: 0, expired: 0, complained: 0, suppressed: 0, cancelled: 0 };
}

/** What the rates are computed from (HealthCounts from the state backend fits too). */
export type RateInputs = Pick<OutcomeCounts, 'delivered' | 'deferred' | 'bounced' | 'complained'>;

/** The rate definitions, in one place for the API, the dashboard and the alerts. */
export function outcomeRates(c: RateInputs): OutcomeRates {
  const ratio = (n: number, d: number): number | null => (d > 0 ? n / d : null);
  return {
    bounce_rate: ratio(c.bounced, c.delivered + c.bounced),
    complaint_rate: ratio(c.complained, c.delivered),
    deferral_rate: ratio(c.deferred, c.delivered + c.deferred + c.bounced),
  };
}

export class OutcomeStats implements StatsReader {
  readonly #node: string;
  readonly #clock: Clock;
  readonly #slots: number;
  readonly #maxKeys: number;
  readonly #second: Float64Array;
  readonly #totals: Uint32Array;
  readonly #byKey: Array<Map<number, Uint32Array>>;
  readonly #keyIds = new Map<string, number>();
  readonly #keys: OutcomeKey[] = [];

  constructor(options: OutcomeStatsOptions) {
    this.#node = options.node;
    this.#clock = options.clock ?? systemClock;
    this.#slots = Math.max(60, Math.ceil((options.span_ms ?? 3_600_000) / 1000));
    this.#maxKeys = options.max_keys ?? 10_000;
    this.#second = new Float64Array(this.#slots).fill(-1);
    this.#totals = new Uint32Array(this.#slots * KINDS);
    this.#byKey = Array.from({ length: this.#slots }, () => new Map<number, Uint32Array>());
  }

  /** The longest window a query can cover, in ms. */
  get spanMs(): number {
    return this.#slots * 1000;
  }

  record(kind: OutcomeEventKind, key: OutcomeKey): void {
    const sec = Math.floor(this.#clock.now() / 1000);
    const slot = sec % this.#slots;
    const map = this.#byKey[slot];
    if (map === undefined) return;
    if (this.#second[slot] !== sec) {
      this.#second[slot] = sec;
      this.#totals.fill(0, slot * KINDS, slot * KINDS + KINDS);
      map.clear();
    }
    const k = KIND_INDEX.get(kind) ?? 0;
    this.#totals[slot * KINDS + k] = (this.#totals[slot * KINDS + k] ?? 0) + 1;
    const id = this.#intern(key);
    let counts = map.get(id);
    if (counts === undefined) {
      counts = new Uint32Array(KINDS);
      map.set(id, counts);
    }
    counts[k] = (counts[k] ?? 0) + 1;
  }

  /** Sums per scope value over the last `windowMs` (the alert input). */
  counts(scope: AlertScope, windowMs: number): Array<{ key: string; counts: OutcomeCounts }> {
    const grouped = new Map<string, OutcomeCounts>();
    this.#each(windowMs, (id, counts) => {
      const group = this.#scopeValue(scope, id);
      let sum = grouped.get(group);
      if (sum === undefined) {
        sum = emptyCounts();
        grouped.set(group, sum);
      }
      addInto(sum, counts);
    });
    return [...grouped].map(([key, counts]) => ({ key, counts }));
  }

  snapshot(windowMs: number): StatsSnapshot {
    const windowS = this.#windowSeconds(windowMs);
    const rows = (scope: AlertScope): StatsRow[] =>
      this.counts(scope, windowS * 1000)
        .map(({ key, counts }) => ({ key, ...counts, ...outcomeRates(counts) }))
        .sort((a, b) => a.key.localeCompare(b.key));
    const totals = emptyCounts();
    for (const r of this.counts('node', windowS * 1000)) addInto(totals, r.counts);
    return {
      node: this.#node,
      at: new Date(this.#clock.now()).toISOString(),
      window_s: windowS,
      totals: { ...totals, ...outcomeRates(totals) },
      by_source: rows('source'),
      by_provider: rows('provider'),
      by_pool: rows('pool'),
      series: this.#series(windowS),
    };
  }

  #series(windowS: number): StatsSnapshot['series'] {
    const step = Math.max(1, Math.ceil(windowS / 300));
    const points = Math.ceil(windowS / step);
    // The series ends with the last whole second: the current one is still filling up and
    // would show as a dip at the right edge of every chart.
    const lastSec = Math.floor(this.#clock.now() / 1000) - 1;
    const first = lastSec - points * step + 1;
    const t: number[] = [];
    const values = OUTCOME_EVENT_KINDS.map(() => new Array<number>(points).fill(0));
    for (let p = 0; p < points; p++) {
      t.push(first + p * step);
      for (let s = first + p * step; s < first + (p + 1) * step; s++) {
        const slot = s % this.#slots;
        if (s < 0 || this.#second[slot] !== s) continue;
        for (let k = 0; k < KINDS; k++) {
          const row = values[k];
          if (row !== undefined) row[p] = (row[p] ?? 0) + (this.#totals[slot * KINDS + k] ?? 0) / step;
        }
      }
    }
    const series = { step_s: step, t } as { step_s: number; t: number[] } & Record<OutcomeEventKind, number[]>;
    OUTCOME_EVENT_KINDS.forEach((kind, k) => (series[kind] = values[k] ?? []));
    return series;
  }

  #each(windowMs: number, visit: (id: number, counts: Uint32Array) => void): void {
    const windowS = this.#windowSeconds(windowMs);
    const nowSec = Math.floor(this.#clock.now() / 1000);
    for (let s = nowSec - windowS + 1; s <= nowSec; s++) {
      const slot = s % this.#slots;
      if (s < 0 || this.#second[slot] !== s) continue;
      for (const [id, counts] of this.#byKey[slot] ?? []) visit(id, counts);
    }
  }

  #windowSeconds(windowMs: number): number {
    return Math.min(this.#slots, Math.max(1, Math.round(windowMs / 1000)));
  }

  #scopeValue(scope: AlertScope, id: number): string {
    const key = this.#keys[id];
    if (key === undefined) return NO_VALUE;
    switch (scope) {
      case 'node':
        return this.#node;
      case 'pool':
        return key.pool;
      case 'source':
        return key.source ?? NO_VALUE;
      case 'provider':
        return key.provider ?? NO_VALUE;
    }
  }

  #intern(key: OutcomeKey): number {
    const name = `${key.pool}\0${key.source ?? ''}\0${key.provider ?? ''}`;
    const known = this.#keyIds.get(name);
    if (known !== undefined) return known;
    const overflow = 'other\0other\0other';
    if (this.#keys.length >= this.#maxKeys && name !== overflow) {
      return this.#intern({ pool: 'other', source: 'other', provider: 'other' });
    }
    const id = this.#keys.length;
    this.#keys.push(key);
    this.#keyIds.set(name, id);
    return id;
  }
}

function addInto(sum: OutcomeCounts, counts: Uint32Array | OutcomeCounts): void {
  OUTCOME_EVENT_KINDS.forEach((kind, k) => {
    sum[kind] += counts instanceof Uint32Array ? (counts[k] ?? 0) : counts[kind];
  });
}
