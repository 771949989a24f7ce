import net from 'node:net';

/**
 * A minimal SMTP client session for load generation over a bare socket: EHLO, then
 * MAIL/RCPT/DATA written in one go when the server offers PIPELINING (RFC 2920 §3.1: DATA
 * ends the group, the message follows the 354). It is a load generator, not a product
 * client: no TLS, no AUTH, no dot-stuffing (the caller's content has no line starting with
 * a dot).
 */

export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

export type SendResult =
  | { readonly kind: 'accepted'; readonly reply: SmtpReply }
  | { readonly kind: 'refused'; readonly stage: 'mail' | 'rcpt' | 'data' | 'dot'; readonly reply: SmtpReply }
  /** the connection went away; `afterDot` true: the server may have taken the message */
  | { readonly kind: 'closed'; readonly afterDot: boolean };

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly ehlo: string;
  readonly timeoutMs: number;
}

type Waiter = (reply: SmtpReply | null) => void;

export class SmtpSession {
  private buf = '';
  private pendingLines: string[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly early: (SmtpReply | null)[] = [];
  private closed = false;
  private dirty = false; // a refused transaction needs RSET before the next MAIL
  pipelining = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => undefined); // 'close' follows and fails the waiters
    socket.on('close', () => this.onClose());
  }

  /** Connects, reads the banner and says EHLO; null reply code means the server refused us. */
  static async open(opts: ConnectOptions): Promise<SmtpSession> {
    const socket = net.connect({
      host: opts.host,
      port: opts.port,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    socket.setTimeout(opts.timeoutMs, () => socket.destroy(new Error('SMTP timeout')));
    const session = new SmtpSession(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const banner = await session.next();
    if (!banner || banner.code !== 220) throw session.fail('banner', banner);
    session.write(`EHLO ${opts.ehlo}\r\n`);
    const ehlo = await session.next();
    if (!ehlo || ehlo.code !== 250) throw session.fail('EHLO', ehlo);
    session.pipelining = ehlo.lines.some((l) => /^pipelining\b/i.test(l));
    return session;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** One transaction; `head` and `body` together are the message without the final dot. */
  async send(from: string, to: string, head: Buffer, body: Buffer): Promise<SendResult> {
    const reset = this.dirty ? 'RSET\r\n' : '';
    const cmds = [`MAIL FROM:<${from}>\r\n`, `RCPT TO:<${to}>\r\n`, 'DATA\r\n'];
    let replies: (SmtpReply | null)[];
    if (this.pipelining) {
      this.write(reset + cmds.join(''));
      if (reset) await this.next();
      replies = [await this.next(), await this.next(), await this.next()];
    } else {
      if (reset) {
        this.write(reset);
        await this.next();
      }
      replies = [];
      for (const cmd of cmds) {
        this.write(cmd);
        const r = await this.next();
        replies.push(r);
        if (!r || r.code >= 400) break;
      }
    }
    this.dirty = false;
    const [mail, rcpt, data] = replies;
    if (data?.code === 354) {
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.write('.\r\n');
      this.socket.uncork();
      const final = await this.next();
      if (!final) return { kind: 'closed', afterDot: true };
      if (final.code >= 200 && final.code < 300) return { kind: 'accepted', reply: final };
      return { kind: 'refused', stage: 'dot', reply: final };
    }
    this.dirty = true;
    for (const [stage, r] of [['mail', mail], ['rcpt', rcpt], ['data', data]] as const) {
      if (!r) return { kind: 'closed', afterDot: false };
      if (r.code >= 300) return { kind: 'refused', stage, reply: r };
    }
    return { kind: 'closed', afterDot: false };
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    this.write('QUIT\r\n');
    await Promise.race([this.next(), new Promise((r) => setTimeout(r, 1000))]);
    this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(s: string): void {
    if (!this.closed) this.socket.write(s);
  }

  /** The next reply, or null when the connection closed first. */
  private next(): Promise<SmtpReply | null> {
    const ready = this.early.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private onData(d: Buffer): void {
    this.buf += d.toString('latin1');
    let idx: number;
    while ((idx = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, idx).replace(/\r$/, '');
      this.buf = this.buf.slice(idx + 1);
      this.pendingLines.push(line.slice(4));
      if (line.charAt(3) === '-') continue; // RFC 5321 §4.2.1 multi-line reply
      const reply = { code: Number(line.slice(0, 3)) || 0, lines: this.pendingLines };
      this.pendingLines = [];
      const w = this.waiters.shift();
      if (w) w(reply);
      else this.early.push(reply);
    }
  }

  private onClose(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
  }

  private fail(what: string, reply: SmtpReply | null): Error {
    this.socket.destroy();
    const text = reply ? `${reply.code} ${reply.lines.join(' / ')}` : 'connection closed';
    return new Error(`${what}: ${text}`);
  }
}
