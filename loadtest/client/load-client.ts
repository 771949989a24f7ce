import type { Clock } from '../clock.js';
import type { MessagePlan } from './message.js';
import { SENDER } from './message.js';
import { SmtpSession, type SmtpReply } from './smtp-session.js';

/** What became of each message on the submitting side. */
export const SEQ = { pending: 0, accepted: 1, refused: 2, unknown: 3, failed: 4 } as const;

/** Per seq: the time of the 250 after the final dot, and the outcome. */
export class AcceptLog {
  readonly acceptedAt: Float64Array;
  readonly state: Uint8Array;
  firstSendAt = Number.NaN;
  lastAcceptAt = Number.NaN;
  accepted = 0;
  refused = 0; // 5xx from the gateway
  unknownOutcome = 0; // connection lost after the final dot: not resent, to avoid a duplicate
  failed = 0; // 4xx on every attempt
  transientReplies = 0; // 4xx replies that were retried
  connectErrors = 0;
  readonly samples: string[] = []; // the first few refusals and errors, for the report

  constructor(readonly messages: number) {
    this.acceptedAt = new Float64Array(messages).fill(Number.NaN);
    this.state = new Uint8Array(messages);
  }

  note(text: string): void {
    if (this.samples.length < 8 && !this.samples.includes(text)) this.samples.push(text);
  }
}

export interface LoadClientOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly connections: number;
  readonly plan: MessagePlan;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  readonly maxAttempts?: number;
  readonly ehlo?: string;
  readonly timeoutMs?: number;
}

const MAX_CONNECT_FAILURES = 10;

/**
 * Submits `log.messages` messages over `connections` concurrent sessions as fast as the
 * server takes them (a closed loop: each session sends its next message when the last one
 * is answered). A 4xx is retried on the same seq; a lost connection is reopened.
 */
export class LoadClient {
  private nextSeq = 0;
  private readonly returned: number[] = [];

  constructor(
    private readonly opts: LoadClientOptions,
    readonly log: AcceptLog,
  ) {}

  async run(): Promise<void> {
    const n = Math.max(1, Math.min(this.opts.connections, this.log.messages));
    await Promise.all(Array.from({ length: n }, () => this.worker()));
  }

  private take(): number | undefined {
    if (this.opts.signal?.aborted) return undefined;
    const back = this.returned.pop();
    if (back !== undefined) return back;
    if (this.nextSeq >= this.log.messages) return undefined;
    return this.nextSeq++;
  }

  private async worker(): Promise<void> {
    const box: { session: SmtpSession | null } = { session: null };
    try {
      for (let seq = this.take(); seq !== undefined; seq = this.take()) {
        if (!(await this.deliver(seq, box))) {
          this.returned.push(seq); // this worker cannot connect: leave the seq to the others
          return;
        }
      }
    } finally {
      await box.session?.quit().catch(() => undefined);
    }
  }

  /** Sends one seq to its end (accepted, refused, failed, unknown); false: cannot connect. */
  private async deliver(seq: number, box: { session: SmtpSession | null }): Promise<boolean> {
    const { plan, clock } = this.opts;
    const maxAttempts = this.opts.maxAttempts ?? 8;
    const msg = plan.message(seq);
    for (let attempt = 1; ; ) {
      if (!box.session?.isOpen) {
        box.session = await this.connect();
        if (!box.session) return false;
      }
      if (Number.isNaN(this.log.firstSendAt)) this.log.firstSendAt = clock();
      const res = await box.session.send(SENDER, msg.to, msg.head, plan.body);
      if (res.kind === 'accepted') {
        const t = clock();
        this.log.acceptedAt[seq] = t;
        this.log.lastAcceptAt = t;
        this.log.state[seq] = SEQ.accepted;
        this.log.accepted += 1;
        return true;
      }
      if (res.kind === 'closed' && res.afterDot) {
        this.log.state[seq] = SEQ.unknown;
        this.log.unknownOutcome += 1;
        this.log.note('connection lost after the final dot');
        return true;
      }
      if (res.kind === 'refused' && res.reply.code >= 500) {
        this.log.state[seq] = SEQ.refused;
        this.log.refused += 1;
        this.log.note(`${res.stage}: ${describe(res.reply)}`);
        return true;
      }
      if (res.kind === 'refused') {
        this.log.transientReplies += 1;
        this.log.note(`${res.stage}: ${describe(res.reply)}`);
      }
      if (++attempt > maxAttempts || this.opts.signal?.aborted) {
        this.log.state[seq] = SEQ.failed;
        this.log.failed += 1;
        return true;
      }
      await sleep(Math.min(2000, 50 * attempt));
    }
  }

  private async connect(): Promise<SmtpSession | null> {
    for (let failures = 0; failures < MAX_CONNECT_FAILURES && !this.opts.signal?.aborted; failures++) {
      try {
        return await SmtpSession.open({
          host: this.opts.host,
          port: this.opts.port,
          ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
          ehlo: this.opts.ehlo ?? 'loadgen.loadtest.test',
          timeoutMs: this.opts.timeoutMs ?? 120_000,
        });
      } catch (err) {
        this.log.connectErrors += 1;
        this.log.note(`connect: ${(err as Error).message}`);
        await sleep(Math.min(2000, 100 * 2 ** failures));
      }
    }
    return null;
  }
}

function describe(reply: SmtpReply): string {
  return `${reply.code} ${reply.lines.join(' ')}`.slice(0, 200);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
