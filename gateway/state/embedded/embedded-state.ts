import type { Clock, StateBackend } from '../types.js';
import { EmbeddedClaims } from './claim-store.js';
import { EmbeddedFailures } from './failure-store.js';
import { EmbeddedHealth } from './health-store.js';
import { EmbeddedHolds } from './hold-store.js';
import { EmbeddedNodeRegistry } from './node-registry.js';
import { EmbeddedSenders } from './sender-store.js';
import { EmbeddedSuppression } from './suppression-store.js';
import { EmbeddedThrottle } from './throttle-store.js';
import { EmbeddedWarmup } from './warmup-store.js';

export interface EmbeddedStateOptions {
  /** The node's data dir; suppression.log, warmup.json, health.json, holds.json, senders.log and claims.log live here. */
  readonly dataDir: string;
  readonly clock: Clock;
}

/**
 * State for a node that runs alone (DESIGN.md "State"): in-process structures,
 * persisted in the data dir where they must survive a restart. Files load on first
 * use; open() loads them up front so a corrupt file fails the start, not a delivery.
 */
export class EmbeddedState implements StateBackend {
  readonly kind = 'embedded' as const;
  readonly suppression: EmbeddedSuppression;
  readonly throttle: EmbeddedThrottle;
  readonly warmup: EmbeddedWarmup;
  readonly health: EmbeddedHealth;
  readonly holds: EmbeddedHolds;
  readonly nodes: EmbeddedNodeRegistry;
  readonly failures: EmbeddedFailures;
  readonly senders: EmbeddedSenders;
  readonly claims: EmbeddedClaims;
  #closed = false;

  constructor(options: EmbeddedStateOptions) {
    const { dataDir, clock } = options;
    this.suppression = new EmbeddedSuppression(dataDir);
    this.throttle = new EmbeddedThrottle(clock);
    this.warmup = new EmbeddedWarmup(dataDir, clock);
    this.health = new EmbeddedHealth(dataDir, clock);
    this.holds = new EmbeddedHolds(dataDir, clock);
    this.nodes = new EmbeddedNodeRegistry(clock);
    this.failures = new EmbeddedFailures(clock);
    this.senders = new EmbeddedSenders(dataDir, clock);
    this.claims = new EmbeddedClaims(dataDir, clock);
  }

  async open(): Promise<void> {
    await Promise.all([
      this.suppression.open(),
      this.warmup.open(),
      this.health.open(),
      this.holds.open(),
      this.senders.open(),
      this.claims.open(),
    ]);
  }

  healthy(): boolean {
    return !this.#closed;
  }

  /** Never degraded: there is no shared store to lose. */
  degraded(): boolean {
    return false;
  }

  /** Flushes debounced files and closes the suppression log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([
      this.suppression.close(),
      this.warmup.close(),
      this.health.close(),
      this.holds.close(),
      this.senders.close(),
      this.claims.close(),
    ]);
  }
}
