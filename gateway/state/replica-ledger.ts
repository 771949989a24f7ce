/**
 * What a fleet with `[cluster] replicas = 2` shares about replicas (docs/CLUSTER.md
 * "Replicas"): which of a node's messages are final, so the peers holding copies drop
 * them, and which ones peers took over while it was down, so it drops them when it is
 * back. Every method may reject with STATE_UNAVAILABLE; callers retry on their next tick.
 */
export interface ReplicaLedger {
  /** Origin: these of its messages left its spool (delivered, bounced, expired, handed off). */
  publishFinal(origin: string, ids: readonly string[]): Promise<void>;
  /** Holder: final ids of `origin` published after `cursor` ("0": from the start), and the next cursor. */
  readFinal(origin: string, cursor: string): Promise<{ readonly ids: readonly string[]; readonly cursor: string }>;
  /**
   * Holder: records these messages of `origin` as taken over by `holder` (or already were by
   * it) and returns those; null when `origin` has a live heartbeat (it is back: take nothing).
   */
  claim(origin: string, holder: string, ids: readonly string[]): Promise<readonly string[] | null>;
  /**
   * Origin, at start: marks itself live for `ttlMs` (so no peer claims from now on) and
   * returns what peers took over while it was down (queue id -> holder).
   */
  collectTaken(origin: string, ttlMs: number): Promise<ReadonlyMap<string, string>>;
  /** Origin: forgets these taken-over records once its own copies are gone. */
  forgetTaken(origin: string, ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
