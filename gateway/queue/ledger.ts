/**
 * What the queue owes each message: how many of its recipients still wait for a final
 * state, and the outcomes it reports on the way. Each recipient gets exactly one final
 * state; after a message's last one it leaves the spool. Deferrals are recorded in the
 * spool's journal with their next attempt time, so that a restart keeps the schedule.
 */
import type { Response } from '../delivery/response.js';
import type { Envelope, Spool } from '../spool/types.js';
import type { Logger } from '../observe/logger.js';
import type { FinalState, OutcomeKind, OutcomeSink, QueueItem, Via } from './types.js';

export interface LedgerDeps {
  readonly spool: Pick<Spool, 'record' | 'remove'>;
  readonly log: Logger;
  readonly onOutcome: OutcomeSink;
  /** Runs before a finished message leaves the spool (a DSN reads the original's headers). */
  readonly beforeRemove?: ((envelope: Envelope) => Promise<void>) | undefined;
}

export class Ledger {
  /**
   * Queued messages by id: how many of their recipients still wait for a final state
   * (one per recipient of their items; nothing else, so that a queued message costs
   * little more than its id).
   */
  private readonly messages = new Map<string, number>();

  constructor(private readonly deps: LedgerDeps) {}

  /** How many messages are queued. */
  get size(): number {
    return this.messages.size;
  }

  /** A message is queued with `pending` recipients still to reach a final state. */
  track(id: string, pending: number): void {
    this.messages.set(id, pending);
  }

  /** Records that recipients of an item wait until `item.nextAt`, and reports them deferred. */
  deferred(item: QueueItem, rcpts: readonly string[], response: Response, via: Via | null): void {
    for (const r of rcpts) {
      this.deps.spool.record(item.envelope.id, r, { attempts: item.attempts, nextAt: item.nextAt });
      this.emit('deferred', item, r, response, via, item.nextAt);
    }
  }

  /**
   * Each recipient of an item gets exactly one final state: the message leaves the spool
   * after its last. Returns, for that last one, the DSN step and the removal (a queue
   * action waits for a few at a time: queue-ending.ts).
   */
  final(item: QueueItem, rcpt: string, state: FinalState, response: Response | null, via: Via | null, reason?: string, dsnSent = false): Promise<void> | undefined {
    // Handed to a peer: the peer reports its outcome; here it only leaves the queue.
    if (state !== 'handed_off') {
      if (state !== 'delivered' && state !== 'cancelled') item.attempts = Math.max(item.attempts, 1);
      this.emit(state, item, rcpt, response, via, null, reason, dsnSent);
    }
    const id = item.envelope.id;
    const pending = this.messages.get(id);
    if (pending === undefined) return undefined;
    if (pending <= 1) {
      this.messages.delete(id);
      // Recorded now, not only by the removal's done line a few turns later: the session
      // runner waits for this line to reach the file before it sends the next message,
      // so a kill -9 meanwhile does not send this one again (issue 11).
      this.deps.spool.record(id, rcpt, state);
      return Promise.resolve(this.deps.beforeRemove?.(item.envelope))
        .catch((err: unknown) => this.deps.log.error({ err, queue_id: id }, 'before-remove step failed'))
        .finally(() => this.deps.spool.remove(id));
    }
    this.messages.set(id, pending - 1);
    this.deps.spool.record(id, rcpt, state);
    return undefined;
  }

  private emit(kind: OutcomeKind, item: QueueItem, rcpt: string, response: Response | null, via: Via | null, nextAt: number | null, reason?: string, dsnSent = false): void {
    try {
      this.deps.onOutcome({
        kind,
        envelope: item.envelope,
        rcpt,
        response,
        attempt: item.attempts,
        pool: via?.pool ?? null,
        source: via?.source ?? null,
        sourceIp: via?.sourceIp ?? null,
        provider: via?.provider ?? null,
        mx: via?.mx ?? null,
        nextAt,
        ...(reason !== undefined ? { reason } : {}),
        ...(dsnSent ? { dsnSent } : {}),
      });
    } catch (err) {
      // A broken outcome handler must not stop the queue's bookkeeping.
      this.deps.log.error({ err }, 'outcome handler threw');
    }
  }
}
