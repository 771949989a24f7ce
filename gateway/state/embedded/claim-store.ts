import type { ClaimStore, Clock } from '../types.js';
import { ExpiringFile } from './expiring-file.js';

/** Claims kept at most; past it the oldest go first (a bounce counted twice, never one lost). */
export const MAX_CLAIMS = 200_000;

/**
 * Claim once for a node that runs alone, in claims.log, one line `[until, key]` per claim
 * (expiring-file.ts). A restart must keep them: a bounce mailed again after one still
 * counts once.
 */
export class EmbeddedClaims implements ClaimStore {
  readonly #file: ExpiringFile<null>;
  readonly #clock: Clock;

  constructor(dataDir: string, clock: Clock, max = MAX_CLAIMS) {
    this.#clock = clock;
    this.#file = new ExpiringFile<null>(dataDir, 'claims', clock, max);
  }

  open(): Promise<void> {
    return this.#file.open();
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    await this.#file.ready();
    // Decided and set with no await between: two claims in flight cannot both win. A claim
    // that cannot be written is taken back (a caller that falls back counts it once itself).
    if (this.#file.live(key) !== null) return false;
    await this.#file.put([[key, null]], this.#clock.now() + Math.max(1, Math.round(ttlMs)));
    return true;
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}
