/**
 * One SMTP listener (smtp-server): relay (clients from relay.networks) or submission
 * (STARTTLS, then AUTH). Runs the plugin chain at each step, reads DATA with the size
 * limit and line-ending rules, and hands a finished transaction to the accept sink,
 * which replies 250 only once the message is durable.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Config, ListenConfig } from '../config/schema.js';
import type { Clock } from '../state/types.js';
import type { ConnectionInfo } from '../plugin-host/public.js';
import type { PluginHost } from '../plugin-host/host.js';
import { HeaderBlock } from '../plugin-host/headers.js';
import { NetworkList } from '../config/networks.js';
import { loggedName, type AuthLimiter } from './auth-limiter.js';
import { applyTlsPolicy } from './tls-policy.js';
import { DUMMY_HASH, verifyPassword } from './passwords.js';
import { readMessage, type ReadResult } from './message-reader.js';
import { feedbackReply, replies, replyError, type SmtpReply } from './replies.js';
import { dedupeRecipients, exactAddress } from './addresses.js';
import { isValidMailbox } from '../config/mailbox.js';
import { isPostmaster, keepForPostmaster, localDomains } from './postmaster.js';
import { countReceived } from './hops.js';
import { applySmtpGuards, endAllSessions, type ViolationKind } from './smtp-guards.js';
import { buildTransaction, senderOf, traceField, type AcceptSink } from './transaction.js';
import { newQueueId } from '../spool/queue-id.js';
import { SessionLimits, type LimitEvents } from './session-limits.js';
import { serverOptions } from './server-options.js';
import { unreadable, verdictError } from './reply-mapping.js';
import type { FeedbackSink } from './feedback.js';
import type { Logger } from '../observe/logger.js';


export interface ListenerDeps {
  readonly config: Config;
  readonly listen: ListenConfig;
  readonly hostname: string;
  readonly tls: { key: Buffer; cert: Buffer };
  readonly plugins: PluginHost;
  readonly sink: AcceptSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly authLimiter: AuthLimiter;
  /** Seconds from the end of DATA to the 250 (the spool commit and the data hook). */
  readonly onAccepted?: (listener: string, seconds: number) => void;
  /** Null when the node can take mail; else the low-disk reply for MAIL FROM (counted as reason low_disk). */
  readonly admission: () => Promise<SmtpReply | null>;
  /** [feedback] addresses and the [bounces] domain: taken from any client, read here, never relayed. */
  readonly feedback?: FeedbackSink;
  /** Client-limit refusals and stress transitions, for metrics. */
  readonly limitEvents?: LimitEvents;
  /** Where postmaster mail is kept when [relay] postmaster is not set (data_dir/postmaster). */
  readonly postmasterDir: string;
}

interface SessionNotes {
  authFailures: number;
  heloChecked: boolean;
  /** A drop verdict at connect or helo: every transaction of the session is dropped. */
  sessionDrop: string | null;
  /** A drop verdict at MAIL: every recipient of this transaction is dropped. */
  transactionDrop: string | null;
  /** Recipients a plugin dropped, with the reason (lower-cased address → reason). */
  dropped: Map<string, string>;
  /** What the transaction's accepted recipients are: feedback addresses, postmaster mail kept on disk, or mail to relay (never mixed). */
  kind: 'feedback' | 'postmaster' | 'mail' | null;
}

type Callback = (err?: Error | null) => void;

export class Listener {
  readonly server: SMTPServer;
  private networks: NetworkList;
  private readonly notes = new Map<string, SessionNotes>();
  private stopping = false;
  /** Set during a maintenance drain: new sessions and transactions get it. */
  private refusal: SmtpReply | null = null;
  private inflight = 0;
  private readonly limits: SessionLimits;

  constructor(private deps: ListenerDeps) {
    applySmtpGuards();
    applyTlsPolicy();
    const { config } = deps;
    this.networks = new NetworkList(config.relay.networks);
    this.server = new SMTPServer(
      serverOptions(deps.listen, config, deps.hostname, deps.tls, {
        onConnect: (s, cb) => void this.onConnect(s, cb),
        onAuth: (a, s, cb) => void this.onAuth(a, s, cb),
        onMailFrom: (a, s, cb) => void this.onMailFrom(a, s, cb),
        onRcptTo: (a, s, cb) => void this.onRcptTo(a, s, cb),
        onData: (stream, s, cb) => void this.onData(stream, s, cb),
        onClose: (s) => {
          this.notes.delete(s.id);
          this.limits.closed(s);
        },
      }),
    );
    this.limits = new SessionLimits({ server: this.server, listener: this.name, clock: deps.clock, log: deps.log, events: deps.limitEvents, current: () => ({ config: this.deps.config, listen: this.deps.listen, networks: this.networks }) });
    this.server.on('error', (err) => deps.log.warn({ err, listener: this.name }, 'listener error'));
    // Smuggling attempts and broken clients the guards refused (smtp-guards.ts), one line each.
    this.server.on('smtp_violation', (kind: ViolationKind, conn: { id: string; remoteAddress: string }) =>
      this.deps.log.warn({ event: 'smtp_violation', kind, session: conn.id, client: conn.remoteAddress, listener: this.name }, kind === 'early_data' ? 'message text before the 354 reply: session closed' : 'bare LF in a command: session closed'),
    );
  }

  /**
   * A config reload (relay networks, limits and users apply to the next command; sessions
   * stay), in two steps so that a node's reload is all or nothing: builds what
   * `config` needs (this may throw) and returns the step that switches to it (it cannot).
   */
  prepare(config: Config): () => void {
    const networks = new NetworkList(config.relay.networks);
    return () => {
      this.deps = { ...this.deps, config };
      this.networks = networks;
      // smtp-server reads these per command from its options object.
      const options = (this.server as unknown as { options: Record<string, unknown> }).options;
      options['size'] = config.relay.max_message_size;
      options['maxRecipients'] = config.relay.max_recipients;
    };
  }

  /** SMTP sessions open now (for the node's load on its heartbeat). */
  get sessions(): number {
    return this.server.connections.size;
  }

  get name(): string {
    return `${this.deps.listen.host}:${this.deps.listen.port}`;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.deps.listen.port, this.deps.listen.host, () => {
        this.server.removeListener('error', onError);
        const addr = (this.server as unknown as { server: { address(): { port: number } } }).server.address();
        resolve(addr.port);
      });
    });
  }

  /** A maintenance drain: `reply` answers new sessions and transactions until called with null. */
  refuseNew(reply: SmtpReply | null): void {
    this.refusal = reply;
  }

  /** What a new session or transaction gets instead of service, or null. */
  private refused(): SmtpReply | null {
    return this.stopping ? replies.shuttingDown : this.refusal;
  }

  /** Stops accepting; transactions in flight finish; resolves when they did or at the deadline. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // smtp-server's close() would wait closeTimeout for sessions that stay open between
    // transactions (pooled clients): end them now, with the reply new sessions get.
    endAllSessions(this.server, replies.shuttingDown);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connection(session: SMTPServerSession): ConnectionInfo {
    return {
      id: session.id,
      remoteAddress: session.remoteAddress,
      remotePort: session.remotePort,
      helo: session.hostNameAppearsAs || null,
      authUser: (session.user as string | undefined) ?? null,
      tls: Boolean(session.secure),
      mode: this.deps.listen.mode === 'submission' ? 'submission' : 'relay',
      listener: this.name,
    };
  }

  private note(session: SMTPServerSession): SessionNotes {
    let n = this.notes.get(session.id);
    if (!n) {
      n = { authFailures: 0, heloChecked: false, sessionDrop: null, transactionDrop: null, dropped: new Map(), kind: null };
      this.notes.set(session.id, n);
    }
    return n;
  }

  private async onConnect(session: SMTPServerSession, cb: Callback): Promise<void> {
    const refused = this.refused();
    if (refused) return cb(replyError(refused));
    // Per-client limits before any plugin work; a 421 closes the session (RFC 5321 §3.8).
    const limited = this.limits.admit(session);
    if (limited) return cb(replyError(limited));
    this.guard(cb, async () => {
      const v = await this.deps.plugins.run('connect', { connection: this.connection(session) });
      if (v.kind === 'drop') this.note(session).sessionDrop = v.reason;
      cb(verdictError(v));
    });
  }

  private async onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: { user: string }) => void): Promise<void> {
    const notes = this.note(session);
    const client = session.remoteAddress;
    const name = auth.username ?? '';
    const who = { session: session.id, client, ...loggedName(name) };
    let attempt;
    try {
      // Charged before the password is checked: parallel sessions share one count.
      attempt = await this.deps.authLimiter.begin({ ip: client, account: name });
    } catch (err) {
      this.deps.log.error({ err, ...who }, 'AUTH limits could not be checked');
      return cb(replyError(replies.authUnavailable));
    }
    if (!attempt.ok) {
      notes.authFailures++;
      this.deps.log.warn({ event: 'auth_refused', ...who, retry_after_s: Math.ceil(attempt.retryAfterMs / 1000) }, 'AUTH refused unchecked: too many failures from this client IP or at this account');
      return cb(replyError(notes.authFailures >= this.deps.config.relay.max_auth_failures ? replies.tooManyAuthFailures : replies.authLockedOut));
    }
    const user = this.deps.config.users.find((u) => u.name === name);
    let ok: boolean;
    try {
      ok = await verifyPassword(auth.password ?? '', user?.password_hash ?? DUMMY_HASH);
    } catch {
      ok = false;
    }
    await attempt.settle(ok && user !== undefined).catch((err: unknown) => this.deps.log.warn({ err, ...who }, 'AUTH charge not given back'));
    if (ok && user) {
      this.deps.log.info({ event: 'auth_ok', ...who }, 'authenticated');
      return cb(null, { user: user.name });
    }
    notes.authFailures++;
    this.deps.log.warn({ event: 'auth_failed', ...who, failures: notes.authFailures }, 'authentication failed');
    if (notes.authFailures >= this.deps.config.relay.max_auth_failures) {
      cb(replyError(replies.tooManyAuthFailures));
      return;
    }
    cb(replyError(replies.authFailed));
  }

  private async onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback): Promise<void> {
    const refused = this.refused();
    if (refused) return cb(replyError(refused));
    this.guard(cb, async () => {
      const exact = exactAddress(address, session, 'sender');
      if (exact) return cb(replyError(exact));
      if (address.address !== '' && !isValidMailbox(address.address)) return cb(replyError(replies.badAddress('sender')));
      const full = await this.deps.admission();
      if (full) {
        this.deps.limitEvents?.refused(this.name, 'low_disk');
        return cb(replyError(full));
      }
      const conn = this.connection(session);
      const notes = this.note(session);
      notes.dropped.clear();
      notes.transactionDrop = null;
      notes.kind = null;
      if (!notes.heloChecked) {
        // smtp-server has no EHLO callback: the helo hook runs before the first MAIL.
        notes.heloChecked = true;
        const hv = await this.deps.plugins.run('helo', { connection: conn, helo: conn.helo ?? '' });
        if (hv.kind === 'drop') notes.sessionDrop = hv.reason;
        else if (hv.kind !== 'next' && hv.kind !== 'accept') return cb(verdictError(hv));
      }
      if (notes.sessionDrop !== null) {
        notes.transactionDrop = notes.sessionDrop;
        return cb();
      }
      const v = await this.deps.plugins.run('mail', { connection: conn, mailFrom: address.address });
      if (v.kind === 'drop') notes.transactionDrop = v.reason;
      cb(verdictError(v));
    });
  }

  private async onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: Callback): Promise<void> {
    this.guard(cb, async () => {
      const exact = exactAddress(address, session, 'recipient');
      if (exact) return cb(replyError(exact));
      const postmaster = isPostmaster(address.address, localDomains(this.deps.config, this.deps.hostname));
      if (!postmaster && !isValidMailbox(address.address)) return cb(replyError(replies.badAddress('recipient')));
      const notes = this.note(session);
      if (this.isFeedbackAddress(address.address)) {
        // Feedback loops: providers send from their own servers, so any client may reach
        // these addresses; the message is read as a report at the end of DATA, never relayed.
        if (notes.kind === 'mail' || notes.kind === 'postmaster') return cb(replyError(replies.feedbackSeparately));
        notes.kind = 'feedback';
        return cb();
      }
      if (notes.kind === 'postmaster' && !postmaster) return cb(replyError(replies.postmasterSeparately));
      if (postmaster) {
        // RFC 5321 §4.5.1: accepted from any client. To [relay] postmaster, else kept on disk.
        const to = this.deps.config.relay.postmaster;
        this.deps.log.info({ event: 'postmaster_rcpt', session: session.id, client: session.remoteAddress, rcpt: address.address, to: to ?? this.deps.postmasterDir }, 'mail for the postmaster');
        if (to === undefined) {
          if (notes.kind !== null) return cb(replyError(notes.kind === 'feedback' ? replies.feedbackSeparately : replies.postmasterSeparately));
          notes.kind = 'postmaster';
          return cb();
        }
        address.address = to;
      } else if (this.deps.listen.mode === 'relay' && !this.networks.contains(session.remoteAddress)) {
        this.deps.log.warn({ event: 'relay_denied', session: session.id, client: session.remoteAddress, rcpt: address.address }, 'relay denied');
        return cb(replyError(replies.relayDenied));
      }
      // RFC 5321 §3.3: a 452 makes the client send these recipients in a later transaction.
      if (notes.kind === 'feedback') return cb(replyError(replies.feedbackSeparately));
      if (notes.transactionDrop !== null) {
        // Accepted and never delivered: the plugin said so at MAIL (or at connect/helo).
        notes.dropped.set(address.address.toLowerCase(), notes.transactionDrop);
        notes.kind = 'mail';
        return cb();
      }
      const tx = { mailFrom: senderOf(session), rcpts: session.envelope.rcptTo.map((r) => r.address), class: '', pool: null, priority: null, campaign: null };
      const v = await this.deps.plugins.run('rcpt', { connection: this.connection(session), transaction: tx, rcpt: address.address });
      if (v.kind === 'drop') {
        notes.dropped.set(address.address.toLowerCase(), v.reason);
        notes.kind = 'mail';
        return cb();
      }
      const err = verdictError(v);
      if (err === null) notes.kind = 'mail';
      cb(err);
    });
  }

  private isFeedbackAddress(address: string): boolean {
    const fb = this.deps.feedback;
    if (!fb || !(this.deps.listen.feedback ?? this.deps.listen.mode === 'relay')) return false;
    return fb.takes(address);
  }

  /** The end of DATA of a transaction to feedback addresses: the report is read, never queued for them. */
  private async onFeedbackData(stream: SMTPServerDataStream, session: SMTPServerSession, fb: FeedbackSink, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    // SIZE in EHLO is relay.max_message_size, and smtp-server enforces it for every transaction.
    const limit = Math.min(fb.maxSize, this.deps.config.relay.max_message_size);
    const read = await this.read(stream, session, limit);
    if (read.kind !== 'ok') return cb(replyError(unreadable(read, limit)));
    const to = session.envelope.rcptTo.map((r) => r.address);
    const reply = feedbackReply(await fb.receive(read.data, { connection: this.connection(session), mailFrom: senderOf(session), rcpts: to }));
    if (reply.code >= 200 && reply.code < 300) {
      this.limits.progress(session);
      cb(null, `${reply.enhanced} ${reply.text}`);
    } else cb(replyError(reply));
  }

  /** The end of DATA of a transaction to the postmaster with no [relay] postmaster: kept on disk, never relayed. */
  private async onPostmasterData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    const limit = this.deps.config.relay.max_message_size;
    const read = await readMessage(stream, limit, this.deps.config.relay.bare_line_endings);
    if (read.kind !== 'ok') return cb(replyError(unreadable(read, limit)));
    if (countReceived(read.data, this.deps.config.relay.max_received) > this.deps.config.relay.max_received) return cb(replyError(replies.tooManyHops));
    const id = newQueueId(this.deps.clock);
    const rcpts = session.envelope.rcptTo.map((r) => r.address);
    const received = `Received: ${traceField(this.connection(session), this.deps.hostname, id, rcpts, this.deps.clock.now())}\r\n`;
    const path = await keepForPostmaster(this.deps.postmasterDir, id, senderOf(session), rcpts, Buffer.concat([Buffer.from(received, 'latin1'), read.data]));
    this.deps.log.warn({ event: 'postmaster_kept', queue_id: id, path, from: senderOf(session), client: session.remoteAddress }, 'mail for the postmaster kept on disk: set [relay] postmaster to have it delivered');
    cb(null, `2.0.0 Ok: kept for the postmaster as ${id}`);
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    this.inflight++;
    try {
      dedupeRecipients(session);
      const fb = this.deps.feedback;
      if (fb && this.note(session).kind === 'feedback') return await this.onFeedbackData(stream, session, fb, cb);
      if (this.note(session).kind === 'postmaster') return await this.onPostmasterData(stream, session, cb);
      const limit = this.deps.config.relay.max_message_size;
      const read = await this.read(stream, session, limit);
      if (read.kind !== 'ok') return cb(replyError(unreadable(read, limit)));
      if (countReceived(read.data, this.deps.config.relay.max_received) > this.deps.config.relay.max_received) {
        this.deps.log.warn({ event: 'mail_loop', session: session.id, client: session.remoteAddress, max_received: this.deps.config.relay.max_received }, 'too many Received fields: refused');
        return cb(replyError(replies.tooManyHops));
      }
      const dataEnd = performance.now();
      const { headers, body } = HeaderBlock.split(read.data);
      const result = await buildTransaction({
        session,
        connection: this.connection(session),
        dropped: this.note(session).dropped,
        headers,
        body,
        size: read.data.length,
        hostname: this.deps.hostname,
        plugins: this.deps.plugins,
        sink: this.deps.sink,
        clock: this.deps.clock,
        log: this.deps.log,
        normalised: read.normalised,
      });
      if (result.kind !== 'refused') this.limits.progress(session);
      if (result.kind === 'queued') {
        this.deps.onAccepted?.(this.name, (performance.now() - dataEnd) / 1000);
        cb(null, `2.0.0 Ok: queued as ${result.id}`);
      }
      else cb(result.kind === 'dropped' ? null : replyError(result.reply), result.kind === 'dropped' ? `2.0.0 Ok: ${result.reply.text}` : undefined);
    } catch (err) {
      this.deps.log.error({ err, session: session.id }, 'DATA failed');
      cb(replyError(replies.localError));
    } finally {
      this.inflight--;
    }
  }

  /** Reads DATA within the whole-DATA deadline ([limits] data_timeout). */
  private async read(stream: SMTPServerDataStream, session: SMTPServerSession, limit: number): Promise<ReadResult | { kind: 'timeout' }> {
    const disarm = this.limits.dataDeadline(session, stream);
    const read = await readMessage(stream, limit, this.deps.config.relay.bare_line_endings);
    // Past the deadline the session got 421 4.4.2 and is closed: whatever was read is not taken.
    return disarm() ? { kind: 'timeout' } : read;
  }

  /** Runs a handler so that nothing it throws escapes into the process (fails closed). */
  private guard(cb: Callback, fn: () => Promise<void>): void {
    fn().catch((err: unknown) => {
      this.deps.log.error({ err }, 'session handler failed');
      cb(replyError(replies.localError));
    });
  }
}
