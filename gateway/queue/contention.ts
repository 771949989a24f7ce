/**
 * Queues that wait for a connection lease another queue's sessions hold (two pools that
 * share a source, a provider's fleet total, the node's session slots). A session ends
 * between two messages when a more urgent queue waits for a lease it holds, so that a
 * transactional message never waits behind a promotional backlog for longer than one
 * message; and a waiting queue is woken the moment a lease it wants is released.
 */

/** Stands for "any lease": the queue waits for a session slot of the node. */
export const ANY_LEASE = '*';

/** After a session gave way to a queue, others do not give way to it again this soon. */
const YIELD_GRACE_MS = 2_000;

interface Waiter {
  keys: readonly string[];
  yieldedAt: number;
}

export class Contention<Q> {
  private readonly waiting = new Map<Q, Waiter>();

  /** `q` found every lease it could use taken (`keys`), or no free session slot ([ANY_LEASE]). */
  wait(q: Q, keys: readonly string[]): void {
    const w = this.waiting.get(q);
    if (w) w.keys = keys;
    else this.waiting.set(q, { keys, yieldedAt: 0 });
  }

  /** `q` got a session, or has nothing left to send. */
  done(q: Q): void {
    this.waiting.delete(q);
  }

  get size(): number {
    return this.waiting.size;
  }

  /** The waiting queues that one of the released `keys` may unblock. */
  released(keys: readonly string[]): Q[] {
    const out: Q[] = [];
    for (const [q, w] of this.waiting) if (overlaps(w.keys, keys)) out.push(q);
    return out;
  }

  /**
   * The queue a session of `q` holding `keys` should give way to: one that waits for
   * one of those leases and is more urgent than `q` (by `urgency`); null when none.
   */
  yieldTo(q: Q, keys: readonly string[], urgency: (q: Q) => number, now: number): Q | null {
    if (this.waiting.size === 0) return null;
    const mine = urgency(q);
    for (const [other, w] of this.waiting) {
      if (other === q || now - w.yieldedAt < YIELD_GRACE_MS || !overlaps(w.keys, keys)) continue;
      if (urgency(other) <= mine) continue;
      w.yieldedAt = now;
      return other;
    }
    return null;
  }
}

function overlaps(wanted: readonly string[], held: readonly string[]): boolean {
  return wanted.some((k) => k === ANY_LEASE || held.includes(k));
}
