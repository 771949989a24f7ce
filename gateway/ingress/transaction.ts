/**
 * The end of DATA: the data hook over the plugin chain, the Received header, the
 * envelope, then the accept sink (spool commit: durable before the 250) and the queued
 * hook. Recipients a plugin dropped are accepted and never delivered.
 */
import type { SMTPServerSession } from 'smtp-server';
import type { Clock } from '../state/types.js';
import type { ConnectionInfo, TransactionInfo } from '../plugin-host/public.js';
import type { PluginHost } from '../plugin-host/host.js';
import type { HeaderBlock } from '../plugin-host/headers.js';
import type { Envelope } from '../spool/types.js';
import { replies, type SmtpReply } from './replies.js';
import { parseSendAt } from './send-at.js';
import { newQueueId } from '../spool/queue-id.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../observe/logger.js';

export interface AcceptSink {
  /** Header names (lower case) whose values routing rules need later. */
  readonly routeHeaders: readonly string[];
  /** Headers that never leave the node (removed after the data hook). */
  readonly privateHeaders: readonly string[];
  /** `[queue] max_schedule` in ms: how far ahead X-Sluice-Send-At may ask (default 7 days). */
  readonly maxSchedule?: () => number;
  /** Header fields the node adds to every accepted message (X-Sluice-FBL), after the data hook. */
  readonly stamp?: (envelope: Envelope) => readonly (readonly [string, string])[];
  /** Resolves once the message is durable and queued. */
  accept(envelope: Envelope, message: Buffer): Promise<void>;
  /** Recipients a plugin dropped: reported as suppressed, never delivered. */
  dropped(envelope: Envelope, rcpts: readonly string[], reason: string): void;
}

export type TransactionResult =
  | { readonly kind: 'queued'; readonly id: string }
  | { readonly kind: 'refused'; readonly reply: SmtpReply }
  | { readonly kind: 'dropped'; readonly reply: SmtpReply };

export interface TransactionInput {
  readonly session: SMTPServerSession;
  readonly connection: ConnectionInfo;
  /** Recipients dropped at RCPT (lower-cased) with the plugin's reason. */
  readonly dropped: ReadonlyMap<string, string>;
  readonly headers: HeaderBlock;
  readonly body: Buffer;
  /** The whole message as the client sent it (header and body, after line-end normalising), in bytes. */
  readonly size: number;
  readonly hostname: string;
  readonly plugins: PluginHost;
  readonly sink: AcceptSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly normalised: boolean;
}

export async function buildTransaction(input: TransactionInput): Promise<TransactionResult> {
  const { session, headers, body } = input;
  const id = newQueueId(input.clock);
  const allRcpts = session.envelope.rcptTo.map((r) => ownCopy(r.address));
  const rcpts = allRcpts.filter((r) => !input.dropped.has(r.toLowerCase()));
  const tx: TransactionInfo = {
    mailFrom: ownCopy(senderOf(session)),
    rcpts,
    class: 'transactional',
    pool: null,
    priority: null,
    campaign: headers.get('x-campaign-id'),
  };
  const message = { headers, body, size: input.size };
  const v = await input.plugins.run('data', { connection: input.connection, transaction: tx, message });
  if (v.kind === 'reject' || v.kind === 'defer') return { kind: 'refused', reply: { code: v.code, enhanced: v.enhanced, text: v.text } };
  const messageId = headers.get('message-id');
  const sendAtText = headers.get('x-sluice-send-at');
  const scheduled = sendAtText === null ? null : parseSendAt(sendAtText, input.clock.now(), input.sink.maxSchedule?.() ?? 7 * 86_400_000);
  if (scheduled !== null && 'reply' in scheduled) return { kind: 'refused', reply: scheduled.reply };
  const envelope: Envelope = {
    id,
    mailFrom: tx.mailFrom,
    rcpts,
    receivedAt: input.clock.now(),
    class: tx.class || 'transactional',
    pool: tx.pool,
    priority: tx.priority,
    campaign: tx.campaign,
    messageId,
    authUser: input.connection.authUser,
    clientAddress: input.connection.remoteAddress,
    routeHeaders: Object.fromEntries(input.sink.routeHeaders.map((h) => [h, headers.get(h)]).filter((e): e is [string, string] => e[1] !== null)),
    isDsn: tx.mailFrom === '',
    ...(scheduled !== null && scheduled.at > input.clock.now() ? { sendAt: scheduled.at } : {}),
  };
  const droppedRcpts = allRcpts.filter((r) => input.dropped.has(r.toLowerCase()));
  if (v.kind === 'drop') {
    input.sink.dropped(envelope, allRcpts, v.reason);
    input.log.info({ event: 'dropped', queue_id: id, reason: v.reason }, 'message dropped by plugin');
    return { kind: 'dropped', reply: { code: 250, enhanced: '2.0.0', text: `queued as ${id}` } };
  }
  for (const r of droppedRcpts) input.sink.dropped(envelope, [r], input.dropped.get(r.toLowerCase()) ?? 'dropped by a plugin');
  if (rcpts.length === 0) return { kind: 'dropped', reply: { code: 250, enhanced: '2.0.0', text: `queued as ${id}` } };
  for (const h of input.sink.privateHeaders) headers.remove(h);
  headers.remove('x-sluice-send-at');
  for (const [name, value] of input.sink.stamp?.(envelope) ?? []) headers.add(name, value);
  headers.add('Received', traceField(input.connection, input.hostname, id, input.session.envelope.rcptTo.map((r) => r.address), input.clock.now()));
  try {
    await input.sink.accept(envelope, headers.assemble(body));
  } catch (err) {
    // RFC 3463 §3.4: a full mail system is X.3.1, and transient (452), not a local error.
    if (err instanceof SluiceError && err.code === 'SPOOL_FULL') {
      input.log.warn({ event: 'refused_disk_full', queue_id: id, size: body.length }, 'no spool space: 452 4.3.1');
      return { kind: 'refused', reply: replies.lowDisk };
    }
    input.log.error({ err, queue_id: id }, 'spool commit failed');
    return { kind: 'refused', reply: replies.localError };
  }
  input.log.info({ event: 'queued', queue_id: id, message_id: messageId, from: tx.mailFrom, rcpts: rcpts.length, size: input.size, class: envelope.class, client: input.connection.remoteAddress, normalised: input.normalised || undefined }, 'queued');
  // After the commit the message is ours: the queued hook can observe, not refuse.
  void input.plugins.run('queued', { connection: input.connection, transaction: tx, message, queueId: id }).catch(() => undefined);
  return { kind: 'queued', id };
}

/** RFC 5321 §4.4 trace field (the Received value); the protocol names are RFC 3848's. */
export function traceField(c: ConnectionInfo, hostname: string, id: string, rcpts: readonly string[], now: number): string {
  const proto = `ESMTP${c.tls ? 'S' : ''}${c.authUser ? 'A' : ''}`;
  const helo = (c.helo ?? 'unknown').replace(/[^\x21-\x7e]/g, '');
  const for1 = rcpts.length === 1 ? ` for <${rcpts[0]}>` : '';
  return `from ${helo} ([${c.remoteAddress}]) by ${hostname} (Sluice) with ${proto} id ${id}${for1}; ${new Date(now).toUTCString().replace('GMT', '+0000')}`;
}

/** The envelope sender of the session's transaction ('' for the null sender). */
/**
 * A string of its own. smtp-server's addresses are slices of the command line
 * ("RCPT TO:<a@b.example>"), and V8 keeps the whole line alive while a slice lives: a
 * queued recipient would hold its command for as long as it waits (10 MB of command
 * lines with 100 000 queued: docs/BENCHMARKS.md "Memory with 100 000 queued").
 */
function ownCopy(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

export function senderOf(session: SMTPServerSession): string {
  return session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
}
