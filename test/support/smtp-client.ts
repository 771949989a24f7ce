/**
 * A raw SMTP client for tests that must control the exact bytes on the wire (smuggling,
 * pipelining, bare line endings). Replies are parsed into { code, text, lines }.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply {
  readonly code: number;
  /** The last line's text after the code (with its enhanced code, if any). */
  readonly text: string;
  readonly lines: readonly string[];
}

export class RawSmtp {
  private buf = '';
  private readonly replies: Reply[] = [];
  private waiting: ((r: Reply | null) => void) | null = null;
  closed = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static open(port: number, opts: { host?: string; localAddress?: string; tls?: boolean } = {}): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const host = opts.host ?? '127.0.0.1';
      const s = opts.tls
        ? tlsConnect({ host, port, rejectUnauthorized: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) })
        : connect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      s.once('error', reject);
      s.once(opts.tls ? 'secureConnect' : 'connect', () => {
        s.removeListener('error', reject);
        resolve(new RawSmtp(s));
      });
    });
  }

  private attach(s: Socket | TLSSocket): void {
    s.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let i: number;
      while ((i = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        this.pending.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          const lines = this.pending.splice(0);
          this.push({ code: Number(line.slice(0, 3)), text: line.slice(4), lines });
        }
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = null;
      w?.(null);
    });
  }

  private readonly pending: string[] = [];

  private push(r: Reply): void {
    const w = this.waiting;
    if (w) {
      this.waiting = null;
      w(r);
    } else this.replies.push(r);
  }

  /** The next reply; null when the server closed the connection first. */
  read(timeoutMs = 10_000): Promise<Reply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting = null;
        reject(new Error('no reply in time'));
      }, timeoutMs);
      this.waiting = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  async cmd(line: string): Promise<Reply | null> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /** Upgrades with STARTTLS (after the 220 to it). */
  async starttls(): Promise<void> {
    const r = await this.cmd('STARTTLS');
    if (r?.code !== 220) throw new Error(`STARTTLS refused: ${r?.code} ${r?.text}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    await new Promise<void>((resolve, reject) => {
      const t = tlsConnect({ socket: plain as Socket, rejectUnauthorized: false }, () => resolve());
      t.once('error', reject);
      this.socket = t;
      this.attach(t);
    });
  }

  /** A whole transaction with the usual commands; returns the DATA end reply. */
  async send(from: string, to: readonly string[], message: string | Buffer): Promise<Reply | null> {
    const m = await this.cmd(`MAIL FROM:<${from}>`);
    if (m?.code !== 250) return m;
    let any = false;
    let last: Reply | null = null;
    for (const r of to) {
      last = await this.cmd(`RCPT TO:<${r}>`);
      if (last?.code === 250) any = true;
    }
    if (!any) {
      await this.cmd('RSET');
      return last;
    }
    const d = await this.cmd('DATA');
    if (d?.code !== 354) return d;
    const body = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
    this.write(Buffer.concat([body, Buffer.from(body.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n')]));
    return this.read();
  }

  close(): void {
    this.socket.destroy();
  }
}

export function message(opts: { from?: string; to?: string; subject?: string; body?: string; headers?: string[] } = {}): string {
  return [
    `From: <${opts.from ?? 'app@example.com'}>`,
    `To: <${opts.to ?? 'user@example.net'}>`,
    `Subject: ${opts.subject ?? 'test'}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@test>`,
    'Date: Sat, 28 Nov 2026 10:00:00 +0000',
    ...(opts.headers ?? []),
    '',
    opts.body ?? 'hello',
    '',
  ].join('\r\n');
}
