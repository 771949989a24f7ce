/**
 * The last word on a rate before a message goes on the wire: this node's own sends per
 * rate key, as the provider counts them (docs/SHAPING.md "What a rate guarantees").
 *
 * The shared limiter (GCRA, state/gcra-params.ts) spaces *tokens*; the provider counts
 * *arrivals*, the end of each DATA. Between the two lie the body read, the MAIL/RCPT/DATA
 * round trips and every event-loop turn in between. GCRA absorbs 15 ms of variation in
 * that delay; a CPU-bound node (a restart recovering its spool while every session
 * reconnects, ~500 messages a second) varies by far more, and tokens spaced right arrive
 * bunched: 127 in one second against 120/s.
 *
 * So each message also waits here, per rate key with N per P: send number m starts no
 * sooner than P after every send numbered m - N or lower has *completed* (its reply to
 * DATA is in, so the provider has counted it). A message arrives between its start and
 * its completion; of any N + 1 sends the last started is at least N after the first,
 * hence arrives at least P after it: no window of P holds N + 1 of this node's arrivals,
 * however late the event loop runs. The cost is P + (send time) per N sends instead of P,
 * within what GCRA's own spacing (P + 30 ms per N) leaves for sends of up to ~30 ms.
 */
import type { Clock, RateClaim } from '../state/types.js';
// A slot is what the delivery agent asks for (delivery/agent-ports.ts).
import type { SendSlot } from '../delivery/agent-ports.js';

/** One send under way or done: its completion time (ms), null while in flight. */
class Send {
  end: number | null = null;
  readonly ended: Promise<void>;
  #resolve!: () => void;

  constructor() {
    this.ended = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  finish(at: number): void {
    if (this.end !== null) return;
    this.end = at;
    this.#resolve();
  }
}

interface Ring {
  readonly count: number;
  readonly periodMs: number;
  /** The last `count` sends, oldest first. */
  readonly sends: Send[];
  /** The latest completion among the sends that left the ring. */
  floor: number;
}


export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SendWindows {
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #rings = new Map<string, Ring>();

  constructor(clock: Clock, sleep: Sleep = realSleep) {
    this.#clock = clock;
    this.#sleep = sleep;
  }

  /**
   * Waits until a message under `claims` may start, then counts it as started. Null when
   * `giveUp()` turns true first, or the wait would end later than `deadline` (ms).
   */
  async admit(claims: readonly RateClaim[], deadline: number, giveUp: () => boolean = () => false): Promise<SendSlot | null> {
    const rings = [...new Map(claims.map((claim) => [claim.key, claim])).values()].map((claim) => this.#ring(claim));
    for (;;) {
      if (giveUp()) return null;
      const now = this.#clock.now();
      let pending: Promise<void> | null = null;
      let delay = 0;
      for (const ring of rings) {
        const oldest = ring.sends.length < ring.count ? undefined : ring.sends[0];
        if (oldest === undefined) continue;
        if (oldest.end === null) {
          pending = oldest.ended;
          break;
        }
        delay = Math.max(delay, Math.max(ring.floor, oldest.end) + ring.periodMs - now);
      }
      if (pending !== null) {
        if (now >= deadline) return null;
        await Promise.race([pending, this.#sleep(deadline - now)]);
        continue;
      }
      if (delay > 0) {
        if (now + delay > deadline) return null;
        await this.#sleep(delay);
        continue;
      }
      // No await since the checks above: nothing else was admitted in between.
      const send = new Send();
      for (const ring of rings) this.#push(ring, send);
      return { done: () => send.finish(this.#clock.now()) };
    }
  }

  #push(ring: Ring, send: Send): void {
    if (ring.sends.length >= ring.count) {
      const old = ring.sends.shift();
      ring.floor = Math.max(ring.floor, old?.end ?? 0);
    }
    ring.sends.push(send);
  }

  /** One ring per key and rate: a reload that changes the rate starts a new count. */
  #ring(claim: RateClaim): Ring {
    const { count, periodMs } = claim.rate;
    const name = `${claim.key}|${count}|${periodMs}`;
    let ring = this.#rings.get(name);
    if (ring === undefined) {
      ring = { count, periodMs, sends: [], floor: Number.NEGATIVE_INFINITY };
      this.#rings.set(name, ring);
    }
    return ring;
  }
}
