/**
 * One outbound SMTP session bound to a source IP (nodemailer's SMTPConnection does the
 * protocol). Tries the route's MX hosts in preference order (RFC 5321 §5.1), then sends
 * messages one after another on the same connection, and reports a typed response per
 * recipient.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { MxHost } from './mx-resolver.js';
import { localResponse, parseResponse, type Response } from './response.js';

export interface SessionSource {
  /** Local address to bind; undefined lets the OS choose. */
  readonly ip: string | undefined;
  readonly ehlo: string;
}

export interface SessionOptions {
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly tls: 'opportunistic' | 'required' | 'none';
}

export interface RcptResult {
  readonly rcpt: string;
  readonly response: Response;
}

export interface SendResult {
  readonly results: readonly RcptResult[];
  /** False when the connection cannot carry another message. */
  readonly reusable: boolean;
}

type Conn = InstanceType<typeof SMTPConnection>;

const QUIT_WAIT_MS = 2_000;

export class DeliverySession {
  private broken = false;
  sent = 0;

  /** Use DeliverySession.open(); the constructor wraps an already connected SMTPConnection. */
  constructor(
    private readonly conn: Conn,
    readonly host: MxHost,
    readonly address: string,
  ) {
    conn.on('error', () => {
      this.broken = true;
    });
    conn.on('end', () => {
      this.broken = true;
    });
  }

  get usable(): boolean {
    return !this.broken;
  }

  /** Connects to the first MX host (and address) that answers; else the last failure. */
  static async open(hosts: readonly MxHost[], source: SessionSource, opts: SessionOptions): Promise<DeliverySession | Response> {
    let last: Response = localResponse(451, '4.4.1', 'no MX host to try');
    for (const host of hosts) {
      const addrs = host.addresses.length > 0 ? host.addresses : [host.name];
      for (const address of addrs) {
        if (source.ip && isV6(source.ip) !== isV6(address)) continue;
        const r = await connect(host, address, source, opts);
        if (r instanceof DeliverySession) return r;
        last = r;
        // A 5xx greeting is the host refusing us, not a reason to skip the next MX.
      }
    }
    return last;
  }

  send(mailFrom: string, rcpts: readonly string[], body: Buffer): Promise<SendResult> {
    return new Promise((resolve) => {
      this.conn.send({ from: mailFrom, to: [...rcpts], size: body.length, use8BitMime: true }, body, (err, info) => {
        this.sent++;
        if (!err) {
          const rejected = new Map((info.rejectedErrors ?? []).map((e) => [String((e as { recipient?: string }).recipient), e]));
          const ok = parseResponse(info.response || '250 2.0.0 OK', 'DATA');
          resolve({
            results: rcpts.map((rcpt) => {
              const e = rejected.get(rcpt);
              return { rcpt, response: e ? errorResponse(e) : ok };
            }),
            reusable: !this.broken,
          });
          return;
        }
        const rejectedErrors = (err as { rejectedErrors?: SMTPConnection.SMTPError[] }).rejectedErrors;
        if (rejectedErrors && rejectedErrors.length > 0) {
          // RFC 5321 §3.8: a 421 (e.g. Gmail's 421-4.7.28 at RCPT) closes the channel; without
          // this the RSET below waited forever on a closed socket (fixed in the shaping issue).
          if (rejectedErrors.some((e) => e.responseCode === 421)) this.broken = true;
          const byRcpt = new Map(rejectedErrors.map((e) => [String((e as { recipient?: string }).recipient), errorResponse(e)]));
          resolve({ results: rcpts.map((rcpt) => ({ rcpt, response: byRcpt.get(rcpt) ?? errorResponse(err) })), reusable: !this.broken });
          return;
        }
        const response = errorResponse(err);
        const protocolLevel = err.code === 'EENVELOPE' || err.code === 'EMESSAGE';
        if (response.code === 421 || !protocolLevel) this.broken = true;
        resolve({ results: rcpts.map((rcpt) => ({ rcpt, response })), reusable: !this.broken });
      });
    }).then(async (r) => {
      const result = r as SendResult;
      if (result.reusable && result.results.some((x) => x.response.code >= 400)) await this.reset();
      return { results: result.results, reusable: !this.broken };
    });
  }

  private reset(): Promise<void> {
    return new Promise((resolve) => {
      // The server may close the connection instead of answering RSET: that ends the wait too.
      const onEnd = () => {
        this.broken = true;
        resolve();
      };
      this.conn.once('end', onEnd);
      this.conn.reset((err) => {
        this.conn.removeListener('end', onEnd);
        if (err) this.broken = true;
        resolve();
      });
    });
  }

  /**
   * QUIT (or drop a broken connection) and resolve once the socket is closed, so the
   * connection lease is given back only when the provider no longer counts us (at most
   * QUIT_WAIT_MS: a peer that never closes is cut off).
   */
  close(): Promise<void> {
    const socket = this.conn._socket as { destroyed?: boolean; once?: (e: string, f: () => void) => void; destroy?: () => void } | undefined;
    const closed = new Promise<void>((resolve) => {
      if (!socket || socket.destroyed || !socket.once) return resolve();
      const t = setTimeout(() => {
        socket.destroy?.();
        resolve();
      }, QUIT_WAIT_MS);
      socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    try {
      if (this.broken) this.conn.close();
      else this.conn.quit();
    } catch {
      // Closing a dead socket can throw; there is nothing left to clean up.
    }
    this.broken = true;
    return closed;
  }
}

function connect(host: MxHost, address: string, source: SessionSource, opts: SessionOptions): Promise<DeliverySession | Response> {
  return new Promise((resolve) => {
    const conn = new SMTPConnection({
      host: address,
      port: host.port,
      name: source.ehlo,
      ...(source.ip ? { localAddress: source.ip } : {}),
      connectionTimeout: opts.connectTimeoutMs,
      greetingTimeout: opts.connectTimeoutMs,
      socketTimeout: opts.commandTimeoutMs,
      ignoreTLS: opts.tls === 'none',
      requireTLS: opts.tls === 'required',
      opportunisticTLS: opts.tls === 'opportunistic',
      // MX certificates rarely match the MX name; without DANE or MTA-STS opportunistic
      // TLS encrypts but cannot authenticate (RFC 7435), as Postfix's "may" level does.
      tls: { rejectUnauthorized: false, servername: isIpLiteral(host.name) ? undefined : host.name },
      logger: false,
      debug: false,
    });
    let settled = false;
    const fail = (err: SMTPConnection.SMTPError) => {
      if (settled) return;
      settled = true;
      const response = errorResponse(err, 'CONNECT');
      // Resolve once the socket is gone, so the lease is not handed on while the
      // provider still counts this connection.
      const socket = conn._socket as { destroyed?: boolean; once?: (e: string, f: () => void) => void } | undefined;
      if (!socket || socket.destroyed || !socket.once) resolve(response);
      else {
        const t = setTimeout(() => resolve(response), QUIT_WAIT_MS);
        socket.once('close', () => {
          clearTimeout(t);
          resolve(response);
        });
      }
      try {
        conn.close();
      } catch {
        // already closed
      }
    };
    // A server that takes the connection and closes it before its greeting: nodemailer
    // ends the connection without an error and never calls back, which held the session
    // (and its connection slot) for good.
    const closedEarly = () => fail(Object.assign(new Error('connection closed before the greeting'), { code: 'ECONNECTION' }));
    conn.once('error', fail);
    conn.once('end', closedEarly);
    conn.connect((err) => {
      if (err) return fail(err);
      if (settled) return;
      settled = true;
      conn.removeListener('error', fail);
      conn.removeListener('end', closedEarly);
      // Commands and the message go out in several small writes; with Nagle on, each
      // transaction waits for a delayed ACK (~40 ms on Linux). MTAs turn it off.
      conn._socket?.setNoDelay?.(true);
      resolve(new DeliverySession(conn, host, address));
    });
  });
}

function errorResponse(err: SMTPConnection.SMTPError, fallbackCommand: string | null = null): Response {
  const command = (err as { command?: string }).command ?? fallbackCommand;
  if (err.response && /^\d{3}/.test(err.response)) return parseResponse(err.response, command);
  switch (err.code) {
    case 'ETIMEDOUT':
      return localResponse(451, '4.4.2', `timed out (${command ?? 'connection'})`, command);
    case 'ETLS':
      return localResponse(451, '4.7.5', 'TLS negotiation failed', command);
    case 'ECONNECTION':
    case 'ESOCKET':
    default:
      return localResponse(451, '4.4.1', `connection failed: ${err.message.slice(0, 120)}`, command);
  }
}

function isV6(address: string): boolean {
  return address.includes(':');
}

function isIpLiteral(name: string): boolean {
  return /^[0-9.]+$/.test(name) || name.includes(':');
}
