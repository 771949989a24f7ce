import { SluiceError } from '../../errors.js';
import type { Clock } from '../types.js';
import type { FleetSize } from './fleet-size.js';
import type { RedisState } from '../redis/redis-state.js';

/** Refresh the fleet size from the registry at most this often, piggy-backed on calls. */
const FLEET_REFRESH_MS = 10_000;

export function isUnavailable(error: unknown): boolean {
  return error instanceof SluiceError && error.code === 'STATE_UNAVAILABLE';
}

/**
 * Decides, call by call, between the shared store and this node's local share of it.
 * While Redis is unhealthy calls go local at once (no waiting on a dead socket); a
 * shared call that fails falls back too. The first shared answer ends the episode.
 */
export class FallbackMode {
  readonly #shared: RedisState;
  readonly #fleet: FleetSize;
  readonly #clock: Clock;
  #fleetCheckedAt = Number.NEGATIVE_INFINITY;
  #refreshing = false;

  constructor(shared: RedisState, fleet: FleetSize, clock: Clock) {
    this.#shared = shared;
    this.#fleet = fleet;
    this.#clock = clock;
  }

  degraded(): boolean {
    return !this.#shared.healthy();
  }

  /** Live nodes to divide shared limits by. */
  nodes(): number {
    return this.#fleet.get();
  }

  async attempt<T>(shared: () => Promise<T>, local: () => T | Promise<T>): Promise<T> {
    if (this.#shared.healthy()) {
      try {
        const result = await shared();
        this.#refreshFleet();
        return result;
      } catch (error) {
        if (!isUnavailable(error)) throw error;
      }
    }
    return local();
  }

  /** Shared only: rejects at once with STATE_UNAVAILABLE while Redis is away. */
  async sharedOnly<T>(what: string, shared: () => Promise<T>): Promise<T> {
    if (!this.#shared.healthy()) {
      throw new SluiceError('STATE_UNAVAILABLE', `${what}: the shared state (redis) is unavailable`);
    }
    return shared();
  }

  #refreshFleet(): void {
    const now = this.#clock.now();
    if (this.#refreshing || now - this.#fleetCheckedAt < FLEET_REFRESH_MS) return;
    this.#refreshing = true;
    this.#fleetCheckedAt = now;
    this.#shared.nodes.live().then(
      (nodes) => {
        this.#refreshing = false;
        this.#fleet.seen(nodes.length);
      },
      () => {
        this.#refreshing = false;
      },
    );
  }
}
