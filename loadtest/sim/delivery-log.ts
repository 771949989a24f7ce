import { parseTrace } from '../trace.js';

/** One message a simulator accepted (a 250 after the final dot). */
export interface Arrival {
  readonly seq: number; // -1: not traced by this run
  readonly t: number;
  readonly ip: string;
  readonly provider: string;
}

export interface ArrivalInput {
  readonly trace: string | null;
  readonly t: number;
  readonly ip: string;
  readonly provider: string;
  readonly dkim: boolean;
}

/**
 * Every simulator of a run writes here: first arrival time per seq, how often each seq
 * arrived (more than once is a duplicate), permanent refusals per seq (the gateway should
 * bounce those, not deliver them), and the raw arrival list for per-IP rates.
 */
export class DeliveryLog {
  readonly firstArrival: Float64Array;
  private readonly seen: Uint16Array;
  private readonly refusedHard: Uint8Array;
  readonly arrivals: Arrival[] = [];
  delivered = 0;
  duplicates = 0;
  foreign = 0; // traced by another run (a --target gateway's old queue)
  untraced = 0; // no trace header: DSNs, or mail the load test did not send
  dkimSigned = 0;
  hardRefusals = 0;
  lastArrivalAt = Number.NaN;

  constructor(
    readonly runId: string,
    readonly messages: number,
  ) {
    this.firstArrival = new Float64Array(messages).fill(Number.NaN);
    this.seen = new Uint16Array(messages);
    this.refusedHard = new Uint8Array(messages);
  }

  record(input: ArrivalInput): void {
    const seq = input.trace === null ? null : parseTrace(input.trace, this.runId);
    const inRange = seq !== null && seq < this.messages;
    this.arrivals.push({ seq: inRange ? seq : -1, t: input.t, ip: input.ip, provider: input.provider });
    this.lastArrivalAt = input.t;
    if (input.dkim) this.dkimSigned += 1;
    if (input.trace === null) {
      this.untraced += 1;
      return;
    }
    if (!inRange) {
      this.foreign += 1;
      return;
    }
    const n = this.seen[seq] ?? 0;
    if (n === 0) {
      this.firstArrival[seq] = input.t;
      this.delivered += 1;
    } else {
      this.duplicates += 1;
    }
    if (n < 0xffff) this.seen[seq] = n + 1;
  }

  /** A simulator answered 5xx for this seq (an unknown user, a full mailbox for good). */
  recordHardRefusal(seq: number | null): void {
    if (seq === null || seq < 0 || seq >= this.messages) return;
    if (this.refusedHard[seq] === 0) this.hardRefusals += 1;
    this.refusedHard[seq] = 1;
  }

  wasDelivered(seq: number): boolean {
    return (this.seen[seq] ?? 0) > 0;
  }

  wasRefusedHard(seq: number): boolean {
    return this.refusedHard[seq] === 1;
  }
}
