import { unitHash } from '../stable-hash.js';
import { TRACE_HEADER, recipientAddress, traceValue } from '../trace.js';

/** The mail the load test sends: one recipient per message, headers per seq, one shared body. */

export const SENDER_DOMAIN = 'loadtest.test';
export const SENDER = `sender@${SENDER_DOMAIN}`;

export interface Destination {
  readonly provider: string;
  readonly domain: string;
}

/** Recipient domains d0..d(n-1), spread round-robin over the providers: d<i>.<provider>.loadtest */
export function recipientDomains(count: number, providers: readonly string[]): Destination[] {
  const out: Destination[] = [];
  for (let i = 0; i < count; i++) {
    const provider = providers[i % providers.length] ?? 'sink';
    out.push({ provider, domain: `d${i}.${provider}.loadtest` });
  }
  return out;
}

export interface MessagePlanOptions {
  readonly runId: string;
  readonly size: number; // bytes, headers included
  readonly domains: readonly Destination[];
  /** share of messages sent to "unknown-…" recipients, which every profile refuses (550 5.1.1) */
  readonly unknownShare: number;
}

export interface PlannedMessage {
  readonly to: string;
  readonly destination: Destination;
  readonly head: Buffer;
}

/**
 * Builds each message's envelope and header block; the body is the same for all. Body lines
 * are 76 characters of text (RFC 5322 §2.1.1 allows 998) and never begin with a dot.
 */
export class MessagePlan {
  readonly body: Buffer;
  private readonly date = new Date().toUTCString().replace('GMT', '+0000');

  constructor(private readonly opts: MessagePlanOptions) {
    const headSize = this.header(0, 'lt-x-0@d0.example').length;
    this.body = makeBody(Math.max(80, opts.size - headSize));
  }

  message(seq: number): PlannedMessage {
    const destination = this.opts.domains[seq % this.opts.domains.length] ?? { provider: 'sink', domain: 'd0.sink.loadtest' };
    const kind = unknownFor(seq, this.opts.unknownShare) ? 'unknown' : 'lt';
    const to = recipientAddress(kind, this.opts.runId, seq, destination.domain);
    return { to, destination, head: Buffer.from(this.header(seq, to), 'latin1') };
  }

  /** Whether message `seq` goes to an unknown user (so a 5xx and a bounce are expected). */
  isUnknown(seq: number): boolean {
    return unknownFor(seq, this.opts.unknownShare);
  }

  private header(seq: number, to: string): string {
    const id = this.opts.runId;
    return (
      `From: Sluice load test <${SENDER}>\r\n` +
      `To: <${to}>\r\n` +
      `Subject: Load test ${id} message ${seq}\r\n` +
      `Date: ${this.date}\r\n` +
      `Message-ID: <${id}.${seq}@${SENDER_DOMAIN}>\r\n` +
      `${TRACE_HEADER}: ${traceValue(id, seq)}\r\n` +
      'MIME-Version: 1.0\r\n' +
      'Content-Type: text/plain; charset=us-ascii\r\n' +
      'Content-Transfer-Encoding: 7bit\r\n' +
      '\r\n'
    );
  }
}

/** A stable, hashed share of seqs (the same ones in every run, so reruns compare), spread
 * over all providers rather than in step with their round-robin. */
function unknownFor(seq: number, share: number): boolean {
  return share > 0 && unitHash(`unknown:${seq}`) < share;
}

function makeBody(size: number): Buffer {
  const words = 'The quick brown fox jumps over the lazy dog while the relay keeps count 0123456789 ';
  const lines: string[] = [];
  let len = 0;
  for (let i = 0; len < size; i++) {
    const start = i % words.length;
    let line = (words.slice(start) + words + words).slice(0, 76).trimEnd();
    if (len + line.length + 2 > size) line = line.slice(0, Math.max(1, size - len - 2));
    if (line.startsWith('.') || line.startsWith(' ')) line = `x${line.slice(1)}`;
    lines.push(line);
    len += line.length + 2;
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
}
