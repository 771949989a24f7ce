import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import selfsigned from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerSession } from 'smtp-server';
import type { Clock } from '../clock.js';
import { LoadtestError } from '../errors.js';
import { findTraceHeader, hasDkimSignature, seqOfRecipient } from '../trace.js';
import type { DeliveryLog } from './delivery-log.js';
import { ConnectionTracker } from './peer-stats.js';
import type { Profile } from './profile.js';
import { ProviderPolicy, type Refusal } from './policy.js';

export interface ProviderSimOptions {
  readonly profile: Profile;
  /** the provider name in reports; the profile name unless one profile plays two roles */
  readonly provider?: string;
  readonly host: string;
  readonly port: number;
  readonly log: DeliveryLog;
  readonly clock: Clock;
  /** trackers shared with other simulators (per source IP across providers) */
  readonly sharedTrackers?: readonly ConnectionTracker[];
  readonly random?: () => number;
}

interface SessionState {
  ip: string;
  delivered: number;
  counted: boolean; // counted in `sessions` / `tlsSessions`
}

const HEAD_LIMIT = 64 * 1024;

/**
 * One simulated provider: a real SMTP server (smtp-server) on its own loopback address that
 * answers as its profile says and records what a real provider would see.
 */
export class ProviderSim {
  readonly provider: string;
  readonly tracker = new ConnectionTracker();
  readonly policy: ProviderPolicy;
  /** sessions that reached MAIL FROM, and how many of them over STARTTLS */
  sessions = 0;
  tlsSessions = 0;
  private readonly server: SMTPServer;
  private readonly sockets = new Set<Socket>();
  private readonly states = new WeakMap<SMTPServerSession, SessionState>();
  private readonly trackers: readonly ConnectionTracker[];

  private constructor(
    private readonly opts: ProviderSimOptions,
    tls: TlsPair | null,
  ) {
    this.provider = opts.provider ?? opts.profile.name;
    this.policy = new ProviderPolicy(opts.profile, opts.clock, opts.random);
    this.trackers = [this.tracker, ...(opts.sharedTrackers ?? [])];
    this.server = this.createServer(tls);
  }

  static async start(opts: ProviderSimOptions): Promise<ProviderSim> {
    const sim = new ProviderSim(opts, opts.profile.starttls ? await selfSigned(opts.profile.hostname) : null);
    await sim.listen();
    return sim;
  }

  get host(): string {
    return this.opts.host;
  }

  /** The bound port (the one asked for, or the one the OS chose for port 0). */
  get port(): number {
    const addr = this.server.server.address();
    return addr && typeof addr === 'object' ? addr.port : this.opts.port;
  }

  get profile(): Profile {
    return this.opts.profile;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new LoadtestError('SETUP_FAILED', `simulator ${this.provider} cannot listen on ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      };
      this.server.server.once('error', onError);
      this.server.listen(this.port, this.host, () => {
        this.server.server.off('error', onError);
        this.server.on('error', () => undefined); // a peer's reset must not end the run
        resolve();
      });
    });
  }

  private createServer(tls: TlsPair | null): SMTPServer {
    const p = this.opts.profile;
    const server = new SMTPServer({
      ...(tls ?? {}),
      name: p.hostname,
      banner: p.banner,
      logger: false,
      disableReverseLookup: true,
      hideENHANCEDSTATUSCODES: true, // our reply texts carry the provider's own enhanced codes
      hideSTARTTLS: !p.starttls,
      authOptional: true,
      disabledCommands: p.starttls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
      size: 100 * 1024 * 1024,
      closeTimeout: 500,
      socketTimeout: 120_000,
      onConnect: (session, cb) => this.onConnect(session, cb),
      onMailFrom: (_address, session, cb) => this.onMail(session, cb),
      onRcptTo: (address, session, cb) => this.onRcpt(address.address, session, cb),
      onData: (stream, session, cb) => this.onData(stream, session, cb),
      onClose: (session) => this.closers.get(`${session.remoteAddress}:${session.remotePort}`)?.(),
    });
    server.server.on('connection', (socket: Socket) => this.onSocket(socket));
    return server;
  }

  /** Counted at TCP accept, before the banner: a provider sees the connection, refused or not. */
  private readonly closers = new Map<string, () => void>();

  private onSocket(socket: Socket): void {
    const ip = socket.remoteAddress ?? '?';
    const key = `${ip}:${socket.remotePort}`;
    this.sockets.add(socket);
    for (const t of this.trackers) t.opened(ip);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      this.sockets.delete(socket);
      this.closers.delete(key);
      for (const t of this.trackers) t.closed(ip);
    };
    // After STARTTLS smtp-server closes the TLS socket and the plain one never emits
    // 'close', so the session's own close (onClose) counts too, whichever comes first.
    this.closers.set(key, close);
    socket.once('close', close);
  }

  private onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const ip = session.remoteAddress;
    this.states.set(session, { ip, delivered: 0, counted: false });
    const refusal = this.policy.onConnect(ip, this.tracker.open(ip));
    this.later(this.opts.profile.delays.banner_ms, () => cb(refusal ? smtpError(refusal) : null));
  }

  private onMail(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const state = this.state(session);
    const ehlo = session.hostNameAppearsAs;
    if (typeof ehlo === 'string' && ehlo) for (const t of this.trackers) t.sawEhlo(state.ip, ehlo);
    if (!state.counted) {
      state.counted = true;
      this.sessions += 1;
      if (session.secure) this.tlsSessions += 1;
    }
    const refusal = this.policy.onMail(state.ip, state.delivered);
    this.later(this.opts.profile.delays.reply_ms, () => cb(refusal ? smtpError(refusal) : null));
  }

  private onRcpt(rcpt: string, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const state = this.state(session);
    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const refusal = this.policy.onRcpt(state.ip, sender, rcpt);
    if (refusal && refusal.code >= 500) this.opts.log.recordHardRefusal(seqOfRecipient(rcpt, this.opts.log.runId));
    this.later(this.opts.profile.delays.reply_ms, () => cb(refusal ? smtpError(refusal) : null));
  }

  private onData(stream: Readable, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const state = this.state(session);
    let head = '';
    let headDone = false;
    stream.on('data', (chunk: Buffer) => {
      if (headDone) return;
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0 || head.length > HEAD_LIMIT) {
        head = end >= 0 ? head.slice(0, end + 2) : head;
        headDone = true;
      }
    });
    stream.once('end', () => {
      this.later(this.opts.profile.delays.data_ms, () => this.finishData(head, session, state, cb));
    });
  }

  private finishData(
    head: string,
    session: SMTPServerSession,
    state: SessionState,
    cb: (err?: Error | null, message?: string) => void,
  ): void {
    const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const rcpts = session.envelope.rcptTo.map((r) => r.address);
    const refusal = this.policy.onDataEnd(state.ip, sender, rcpts);
    if (refusal) {
      if (refusal.code >= 500) for (const r of rcpts) this.opts.log.recordHardRefusal(seqOfRecipient(r, this.opts.log.runId));
      cb(smtpError(refusal));
      return;
    }
    state.delivered += 1;
    this.opts.log.record({
      trace: findTraceHeader(head),
      t: this.opts.clock(),
      ip: state.ip,
      provider: this.provider,
      dkim: hasDkimSignature(head),
    });
    cb(null, `2.0.0 OK ${session.id}.${state.delivered} - ${this.provider}`);
  }

  private state(session: SMTPServerSession): SessionState {
    let s = this.states.get(session);
    if (!s) this.states.set(session, (s = { ip: session.remoteAddress, delivered: 0, counted: false }));
    return s;
  }

  private later(ms: number, fn: () => void): void {
    if (ms > 0) setTimeout(fn, ms);
    else fn();
  }
}

interface TlsPair {
  readonly key: string;
  readonly cert: string;
}

/** A fresh certificate for STARTTLS (smtp-server's built-in one has expired); opportunistic
 * TLS between MTAs does not verify it (RFC 3207 §4.1 leaves that to local policy). */
async function selfSigned(hostname: string): Promise<TlsPair> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 30 * 86_400_000),
  });
  return { key: pems.private, cert: pems.cert };
}

/**
 * smtp-server sends err.message after the code; a message that is an array becomes a
 * multi-line reply ("421-4.7.28 ...\r\n421 4.7.28 ..."), as Gmail sends its rate replies.
 * A 421 makes smtp-server close the connection after the reply (RFC 5321 §3.8).
 */
function smtpError(refusal: Refusal): Error {
  const err = new Error(refusal.lines.join(' ')) as Error & { responseCode: number };
  err.responseCode = refusal.code;
  if (refusal.lines.length > 1) Object.defineProperty(err, 'message', { value: [...refusal.lines] });
  return err;
}
