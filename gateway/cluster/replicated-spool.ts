/**
 * The spool as the node uses it with `[cluster] replicas = 2`: a commit resolves once the
 * message is on this node's disk and on a peer's (both at once, so the copy costs one
 * round trip, not a second fsync in a row), and a message leaving the spool for any
 * reason (delivered, bounced, expired, handed off) is published as final, in batches,
 * so the peer holding its copy drops it.
 */
import type { Logger as NodeLog } from '../observe/logger.js';
import type { ReplicaLedger } from '../state/replica-ledger.js';
import type { CorruptReport, Envelope, RecipientState, AttemptRecord, RecoveredMessage, Spool } from '../spool/types.js';
import type { Replicator } from './replicator.js';

/** Final ids kept for a Redis outage before the oldest are given up (their copies then wait for max_age). */
const MAX_PENDING = 200_000;

export interface ReplicatedSpoolOptions {
  readonly self: string;
  readonly replicator: Replicator;
  readonly ledger: ReplicaLedger;
  readonly log: NodeLog;
  /** How often final ids go out (default 250 ms). */
  readonly publishEveryMs?: number;
}

export class ReplicatedSpool implements Spool {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private publishing: Promise<void> | null = null;

  constructor(
    private readonly inner: Spool,
    private readonly opts: ReplicatedSpoolOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.publishEveryMs ?? 250);
    this.timer.unref();
  }

  async commit(envelope: Envelope, body: Buffer): Promise<void> {
    const [local, copy] = await Promise.allSettled([this.inner.commit(envelope, body), this.opts.replicator.replicate(envelope, body)]);
    if (local.status === 'rejected') {
      // The client gets a 4xx and sends again: the peer's copy must not be taken over later.
      if (copy.status === 'fulfilled' && copy.value.kind === 'replicated') this.final(envelope.id);
      throw local.reason;
    }
    if (copy.status === 'rejected') {
      await this.inner.remove(envelope.id);
      throw copy.reason;
    }
  }

  async remove(id: string): Promise<void> {
    await this.inner.remove(id);
    this.final(id);
  }

  readBody(id: string): Promise<Buffer> {
    return this.inner.readBody(id);
  }

  readEnvelope(id: string): Promise<Envelope> {
    return this.inner.readEnvelope(id);
  }

  forget(id: string): void {
    this.inner.forget?.(id);
  }

  record(id: string, rcpt: string, state: RecipientState | AttemptRecord): void {
    this.inner.record(id, rcpt, state);
  }

  recorded(): Promise<void> {
    return this.inner.recorded?.() ?? Promise.resolve();
  }

  recover(onMessage: (m: RecoveredMessage) => void, onCorrupt: CorruptReport): Promise<number> {
    return this.inner.recover(onMessage, onCorrupt);
  }

  freeBytes(): Promise<number> {
    return this.inner.freeBytes();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    await this.inner.close();
  }

  /** Sends the final ids gathered so far; on failure they wait for the next tick. */
  flush(): Promise<void> {
    if (this.publishing || this.pending.length === 0) return this.publishing ?? Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    this.publishing = this.opts.ledger
      .publishFinal(this.opts.self, batch)
      .catch((err: unknown) => {
        this.pending = [...batch, ...this.pending].slice(-MAX_PENDING);
        this.opts.log.warn({ event: 'replica_final_unpublished', ids: batch.length, err }, 'could not publish final queue ids: retrying');
      })
      .finally(() => {
        this.publishing = null;
      });
    return this.publishing;
  }

  private final(id: string): void {
    this.pending.push(id);
  }
}
