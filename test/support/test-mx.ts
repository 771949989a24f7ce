import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { makeCert } from './certs.js';

/** A reply the test MX sends instead of its default; put the enhanced code in `message`. */
export interface MxReply {
  readonly code: number;
  /** e.g. `'5.1.1 No such user'`: sent verbatim after the code (the server adds no enhanced code). */
  readonly message: string;
}

export interface RecordedMessage {
  readonly peerIp: string;
  readonly helo: string;
  readonly mailFrom: string;
  /** Recipients the MX accepted for this transaction. */
  readonly rcpts: readonly string[];
  /** The DATA bytes as received (dot-unstuffed, CRLF line ends). */
  readonly raw: Buffer;
  /** Date.now() when the end of DATA arrived. */
  readonly at: number;
  /** True when the session had switched to TLS (STARTTLS). */
  readonly secure: boolean;
  readonly sessionId: string;
}

export interface PeerStats {
  /** Open sessions from this IP now. */
  readonly current: number;
  /** Most sessions from this IP open at the same time. */
  readonly peak: number;
  readonly connections: number;
  /** Messages accepted from this IP. */
  readonly messages: number;
  /** Most messages accepted from this IP within any 1000 ms window. */
  readonly peakPerSecond: number;
}

export interface TestMxBehaviour {
  /** Reply to the connection instead of the greeting (e.g. 421 4.7.0); the session ends. */
  onConnect?: ((peerIp: string) => MxReply | null) | undefined;
  rejectMail?: ((mailFrom: string, peerIp: string) => MxReply | null) | undefined;
  /** Per-recipient reply, e.g. `{ code: 550, message: '5.1.1 No such user' }` or 452 4.2.2. */
  rejectRcpt?: ((rcpt: string, peerIp: string) => MxReply | null) | undefined;
  /** Replaces the 250 after DATA: a code >= 400 rejects (the message goes to `rejected`). */
  onData?: ((message: RecordedMessage) => MxReply | null | Promise<MxReply | null>) | undefined;
}

export interface TestMxOptions extends TestMxBehaviour {
  /** A loopback address, 127.0.0.1 by default. */
  host?: string;
  /** 0 (the OS picks) by default. */
  port?: number;
  /** Offer STARTTLS with a certificate made on the fly. */
  tls?: boolean;
  /** The name in the greeting and EHLO reply. */
  name?: string;
}

export interface TestMx {
  readonly host: string;
  readonly port: number;
  /** `host:port`, e.g. for `[dns.static]`. */
  readonly address: string;
  /** Accepted messages, in arrival order. */
  readonly messages: readonly RecordedMessage[];
  /** Messages that `onData` refused. */
  readonly rejected: readonly RecordedMessage[];
  /** Changes the reply behaviour from now on (unset keys stay as they were). */
  configure(behaviour: TestMxBehaviour): void;
  stats(peerIp: string): PeerStats;
  peers(): Map<string, PeerStats>;
  /** Resolves with the accepted messages once at least `n` arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<RecordedMessage[]>;
  /** Resolves once `predicate` holds (checked on every session and message event). */
  waitUntil(predicate: (mx: TestMx) => boolean, timeoutMs?: number): Promise<void>;
  /** Stops listening and drops open sessions, as a crashed MX would; the port stays reserved for up(). */
  down(): Promise<void>;
  /** Listens again on the same host and port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

interface PeerCounters {
  current: number;
  peak: number;
  connections: number;
  times: number[];
}

function smtpError(reply: MxReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function peakWithin(times: readonly number[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** A recording SMTP server standing in for a remote MX (smtp-server, real sockets). */
export async function startTestMx(opts: TestMxOptions = {}): Promise<TestMx> {
  const host = opts.host ?? '127.0.0.1';
  const behaviour: TestMxBehaviour = { ...opts };
  const cert = opts.tls === true ? await makeCert(['localhost', host]) : null;
  const messages: RecordedMessage[] = [];
  const rejected: RecordedMessage[] = [];
  const counters = new Map<string, PeerCounters>();
  const openSessions = new Set<string>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let server: SMTPServer | null = null;
  let port = opts.port ?? 0;

  const notify = (): void => {
    for (const check of [...waiters]) check();
  };
  const peer = (ip: string): PeerCounters => {
    let c = counters.get(ip);
    if (c === undefined) {
      c = { current: 0, peak: 0, connections: 0, times: [] };
      counters.set(ip, c);
    }
    return c;
  };

  const options: SMTPServerOptions = {
    name: opts.name ?? 'mx.test',
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    // No AUTH on an MX; STARTTLS only when asked for (then with our own cert).
    disabledCommands: cert === null ? ['AUTH', 'STARTTLS'] : ['AUTH'],
    size: 200 * 1024 * 1024,
    ...(cert === null ? {} : { key: cert.key, cert: cert.cert }),
    onConnect(session, callback) {
      const reply = behaviour.onConnect?.(session.remoteAddress) ?? null;
      if (reply !== null) return callback(smtpError(reply));
      const c = peer(session.remoteAddress);
      openSessions.add(session.id);
      c.current++;
      c.connections++;
      c.peak = Math.max(c.peak, c.current);
      callback();
      notify();
    },
    onClose(session) {
      if (!openSessions.delete(session.id)) return;
      peer(session.remoteAddress).current--;
      notify();
    },
    onMailFrom(address, session, callback) {
      const reply = behaviour.rejectMail?.(address.address, session.remoteAddress) ?? null;
      callback(reply === null ? null : smtpError(reply));
    },
    onRcptTo(address, session, callback) {
      const reply = behaviour.rejectRcpt?.(address.address, session.remoteAddress) ?? null;
      callback(reply === null ? null : smtpError(reply));
    },
    onData(stream, session, callback) {
      readAll(stream).then(
        (raw) => finishData(raw, session).then(
          (reply) => {
            if (reply === null) callback(null, 'OK: queued');
            else if (reply.code < 400) callback(null, reply.message);
            else callback(smtpError(reply));
          },
          (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
        ),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
    },
  };

  async function finishData(raw: Buffer, session: SMTPServerSession): Promise<MxReply | null> {
    const mailFrom = session.envelope.mailFrom;
    const message: RecordedMessage = {
      peerIp: session.remoteAddress,
      helo: session.hostNameAppearsAs || '',
      mailFrom: mailFrom === false ? '' : mailFrom.address,
      rcpts: session.envelope.rcptTo.map((r) => r.address),
      raw,
      at: Date.now(),
      secure: session.secure,
      sessionId: session.id,
    };
    const reply = (await behaviour.onData?.(message)) ?? null;
    if (reply === null || reply.code < 400) {
      messages.push(message);
      peer(message.peerIp).times.push(message.at);
    } else {
      rejected.push(message);
    }
    notify();
    return reply;
  }

  async function listen(): Promise<void> {
    const next = new SMTPServer({ ...options });
    next.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    next.on('error', () => undefined); // peers that vanish mid-session are expected here
    await new Promise<void>((resolve, reject) => {
      next.server.once('error', reject);
      next.listen(port, host, () => {
        next.server.off('error', reject);
        resolve();
      });
    });
    const address = next.server.address();
    if (typeof address === 'object' && address !== null) port = address.port;
    server = next;
  }

  async function stop(): Promise<void> {
    const current = server;
    if (current === null) return;
    server = null;
    const closed = new Promise<void>((resolve) => current.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  function wait(predicate: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`test MX ${host}:${port}: timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  await listen();

  const mx: TestMx = {
    host,
    get port() {
      return port;
    },
    get address() {
      return `${host}:${port}`;
    },
    messages,
    rejected,
    configure(next) {
      Object.assign(behaviour, next);
    },
    stats(peerIp) {
      const c = counters.get(peerIp);
      if (c === undefined) return { current: 0, peak: 0, connections: 0, messages: 0, peakPerSecond: 0 };
      return {
        current: c.current,
        peak: c.peak,
        connections: c.connections,
        messages: c.times.length,
        peakPerSecond: peakWithin(c.times, 1000),
      };
    },
    peers() {
      return new Map([...counters.keys()].map((ip) => [ip, mx.stats(ip)]));
    },
    async waitFor(n, timeoutMs = 10_000) {
      await wait(() => messages.length >= n, timeoutMs, () => `${n} messages (have ${messages.length})`);
      return [...messages];
    },
    waitUntil(predicate, timeoutMs = 10_000) {
      return wait(() => predicate(mx), timeoutMs, () => 'a condition');
    },
    down: stop,
    async up() {
      if (server === null) await listen();
    },
    close: stop,
  };
  return mx;
}

/** The recipients each DSN at the MX names (its Final-Recipient fields), by the sender it went to. */
export function dsnsBySender(mx: TestMx): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of mx.messages.filter((x) => x.mailFrom === '')) {
    const named = [...m.raw.toString().matchAll(/^Final-Recipient: rfc822;\s*(\S+)/gim)].map((x) => (x[1] ?? '').toLowerCase());
    for (const to of m.rcpts) out.set(to.toLowerCase(), [...(out.get(to.toLowerCase()) ?? []), ...named]);
  }
  return out;
}
