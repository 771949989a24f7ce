/**
 * Protocol integrity that smtp-server leaves to us (the SMTP smuggling attacks of
 * December 2023), and exact enhanced status codes on the wire.
 *
 * smtp-server's parser splits command lines on a bare LF, and reads message text that a
 * client pipelined after DATA before it saw the 354 reply. Postfix ≥ 3.9 refuses both;
 * so do we. It also derives the enhanced status code from the numeric code alone
 * (550 → 5.1.1), so a reply text that starts with our own enhanced code is sent with
 * that code instead (DESIGN.md "Replies").
 *
 * These are patches to smtp-server's connection class, applied once, idempotently.
 * They touch three internal methods (send, _createParser, the parser's _write and
 * oncommand); test/ingress/smuggling.test.ts fails if an upgrade changes them.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const ENHANCED_PREFIX = /^([245])\.\d{1,3}\.\d{1,3} /;
let applied = false;

interface ParserLike {
  _dataMode: boolean;
  _remainder: string;
  oncommand: (line: Buffer, cb: () => void) => void;
  _write: (chunk: Buffer, enc: string, next: (err?: Error) => void) => void;
  __lastByte?: number;
  __chunkBytes?: number;
  __consumed?: number;
  __violated?: boolean;
}

interface ConnLike {
  send(code: number, data: unknown, context?: unknown): void;
  close(): void;
  _createParser(): ParserLike;
  id: string;
  remoteAddress: string;
  /** The SMTPServer the connection belongs to: violations are reported on it. */
  _server?: { emit(event: string, ...args: unknown[]): boolean };
}

/** What each listener's server emits (as 'smtp_violation') when a guard refuses a session. */
export type ViolationKind = 'bare_lf_command' | 'early_data';

export function applySmtpGuards(): void {
  if (applied) return;
  applied = true;
  const proto = (SMTPConnection as unknown as { prototype: ConnLike }).prototype;

  const send = proto.send;
  proto.send = function (this: ConnLike, code: number, data: unknown, context?: unknown) {
    if (context !== false && typeof data === 'string') {
      const m = ENHANCED_PREFIX.exec(data);
      if (m && m[1] === String(code)[0]) {
        // Ours already: send "code enhanced text" as written, without a derived code.
        return send.call(this, code, data, false);
      }
    }
    return send.call(this, code, data, context);
  };

  const createParser = proto._createParser;
  proto._createParser = function (this: ConnLike) {
    const parser = createParser.call(this);
    guardParser(this, parser);
    return parser;
  };
}

function guardParser(conn: ConnLike, parser: ParserLike): void {
  const write = parser._write;
  parser._write = function (chunk: Buffer, enc: string, next: (err?: Error) => void) {
    if (parser.__violated) return next();
    if (!parser._dataMode && chunk.length > 0) {
      // RFC 5321 §2.3.8: lines end in CRLF. A bare LF must not end a command line.
      let prev = parser.__lastByte ?? 0x0d;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i] as number;
        if (b === 0x0a && prev !== 0x0d) return reject(conn, parser, 'bare_lf_command', '500 5.5.2 Error: bare <LF> received in a command; lines must end in <CR><LF>', next);
        prev = b;
      }
      parser.__lastByte = prev;
      parser.__chunkBytes = Buffer.byteLength(parser._remainder, 'binary') + chunk.length;
      parser.__consumed = 0;
    } else if (chunk.length > 0) {
      parser.__lastByte = chunk[chunk.length - 1] as number;
    }
    return write.call(parser, chunk, enc, next);
  };
  const oncommand = parser.oncommand;
  parser.oncommand = (line: Buffer, cb: () => void) => {
    parser.__consumed = (parser.__consumed ?? 0) + line.length + 2;
    if (/^data\s*$/i.test(line.toString('latin1')) && (parser.__chunkBytes ?? 0) > (parser.__consumed ?? 0)) {
      // RFC 2920 §3.1: DATA is a synchronisation point; text sent before the 354 is a
      // smuggling attempt or a broken client. Refuse and close, accepting nothing.
      reject(conn, parser, 'early_data', '554 5.5.0 Error: message text sent before the 354 reply (RFC 2920 section 3.1)', () => undefined);
      return;
    }
    oncommand(line, cb);
  };
}

function reject(conn: ConnLike, parser: ParserLike, kind: ViolationKind, reply: string, next: (err?: Error) => void): void {
  parser.__violated = true;
  const code = Number(reply.slice(0, 3));
  conn.send(code, reply.slice(4), false);
  conn._server?.emit('smtp_violation', kind, { id: conn.id, remoteAddress: conn.remoteAddress });
  conn.close();
  next();
}
