/**
 * "Seen before?" for the bounce and feedback intakes: a bounce or a complaint a provider
 * mails to two MX hosts of the fleet, or again after a restart, or again because our 250
 * was lost, must count once (one outcome, one count in the bounce and complaint rates).
 * The fleet's claim-once store answers (state/types.ts ClaimStore: Redis, or claims.log
 * on a single node); this node's memory answers in front of it for what it saw itself,
 * and alone while the store does not answer: a report is never dropped because the store
 * failed, at worst counted once per node for that time.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../observe/logger.js';
import type { ClaimStore, Clock } from '../state/types.js';

export interface SeenOnceDeps {
  /** The fleet's claims; null: this node's memory only. */
  readonly claims: ClaimStore | null;
  /** What is checked: the claim keys' prefix and the log lines' subject. */
  readonly what: 'bounce' | 'feedback';
  /** How long a key stays seen. */
  readonly ttlMs: number;
  /** Keys this node remembers itself, at most (the oldest go first). */
  readonly max: number;
  readonly clock: Clock;
  readonly log: Logger;
}

export class SeenOnce {
  readonly #deps: SeenOnceDeps;
  /** Hashed key -> when this node first saw it, in that order. */
  readonly #local = new Map<string, number>();
  /** The store failed and it was logged; cleared (and logged) by its next answer. */
  #away = false;

  constructor(deps: SeenOnceDeps) {
    this.#deps = deps;
  }

  /** True the first time `key` is seen within the TTL, fleet-wide as far as the store answers. */
  async first(key: string): Promise<boolean> {
    const { claims, what, ttlMs, clock, log } = this.#deps;
    // Hashed: fixed-size keys, no addresses in Redis or claims.log, no separator to escape.
    const id = createHash('sha256').update(key).digest('base64url').slice(0, 22);
    const now = clock.now();
    const at = this.#local.get(id);
    if (at !== undefined && now - at < ttlMs) return false;
    this.#remember(id, now);
    if (claims === null) return true;
    try {
      const first = await claims.claim(`${what}:${id}`, ttlMs);
      if (this.#away) {
        this.#away = false;
        log.info({ event: `${what}_duplicates_shared` }, `${what} duplicates are checked fleet-wide again`);
      }
      return first;
    } catch (err) {
      if (!this.#away) {
        this.#away = true;
        log.warn({ err, event: `${what}_duplicates_local` }, `shared state unavailable: ${what} duplicates are checked on this node only until it answers (one the fleet already counted may count again)`);
      }
      return true;
    }
  }

  #remember(id: string, now: number): void {
    this.#local.delete(id);
    this.#local.set(id, now);
    while (this.#local.size > this.#deps.max) this.#local.delete(this.#local.keys().next().value as string);
  }
}
