/**
 * Protocol integrity that smtp-server leaves to us (the SMTP smuggling attacks of
 * December 2023), exact enhanced status codes and ASCII-only texts on the wire, and
 * command lines as the client sent them.
 *
 * smtp-server's parser splits command lines on a bare LF, and reads message text that a
 * client pipelined after DATA before it saw the 354 reply. Postfix >= 3.9 refuses both;
 * so do we. It decodes command lines as UTF-8, turning a malformed byte into U+FFFD
 * (a Latin-1 "j\xfcrgen" became "j\uFFFDrgen" and was relayed): a command that is not
 * UTF-8 is refused here instead, and the bytes of the command being handled are kept
 * for the listener (commandBytes). Every reply goes through reply-wire.ts.
 *
 * And it lets a listener's SessionGate (session-limits.ts) end a session before a command
 * runs or after an error reply, and set a session's own idle timeout (stress mode):
 * smtp-server has no hook for either.
 *
 * These are patches to smtp-server's connection class, applied once, idempotently.
 * They touch internal methods (send, close, _onCommand, _armTimeout, _getEnhancedStatusCode,
 * _createParser, the parser's _write, _dataMode, _remainder and oncommand) and fields
 * (_server, _socket, session, _nextHandler, _upgrading, _closing, the server's connections);
 * test/ingress/smtp-internals.test.ts and smtp-wire-internals.test.ts fail if an upgrade
 * changes them.
 */
import { isUtf8 } from 'node:buffer';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { wireReply } from './reply-wire.js';

let applied = false;

interface ParserLike {
  _dataMode: boolean;
  _remainder: string;
  oncommand: (line: Buffer, cb?: () => void) => void;
  _write: (chunk: Buffer, enc: string, next: (err?: Error) => void) => void;
  __lastByte?: number;
  __chunkBytes?: number;
  __consumed?: number;
  __violated?: boolean;
}

interface ConnLike {
  // Function-typed members taking `this`: the originals are kept and re-applied with .call(this).
  send: (this: ConnLike, code: number, data: unknown, context?: unknown) => void;
  _getEnhancedStatusCode(code: number, context?: unknown): string;
  close(): void;
  _createParser: (this: ConnLike) => ParserLike;
  _onCommand: (this: ConnLike, command: Buffer, callback?: () => void) => void;
  _armTimeout: (this: ConnLike, socket?: { setTimeout(ms: number): unknown }) => void;
  id: string;
  remoteAddress: string;
  /** One object for the whole connection (smtp-server resets its fields, never replaces it). */
  session: GateSession;
  _socket: { setTimeout(ms: number): unknown };
  _nextHandler: unknown;
  /** True while STARTTLS is in its handshake: nothing may be written then. */
  _upgrading: boolean;
  _closing: boolean;
  /** The SMTPServer the connection belongs to: violations are reported on it. */
  _server?: { emit(event: string, ...args: unknown[]): boolean };
}

/** What a gate sees of a session (smtp-server's session object). */
export interface GateSession {
  readonly id: string;
  readonly remoteAddress?: string;
  readonly user?: unknown;
}

/** A reply that ends a session: "code enhanced text", then the connection is closed. */
export interface GateReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

/** A listener's per-session limits, consulted by the patched connection. */
export interface SessionGate {
  /** Before a command line runs (not AUTH continuation lines): a reply that ends the session instead, or null. */
  command(session: GateSession, verb: string): GateReply | null;
  /** After an error reply (4xx/5xx) went out: a reply that ends the session, or null. */
  reply(session: GateSession, code: number): GateReply | null;
  /** This session's idle timeout in ms, or null for the listener's socket_timeout. */
  idleTimeout(session: GateSession): number | null;
}

interface ServerLike {
  connections: Set<ConnLike>;
  options: { socketTimeout?: number };
}

const gates = new WeakMap<object, SessionGate>();

/** Installs `gate` for every session of `server` (an SMTPServer). */
export function setSessionGate(server: object, gate: SessionGate): void {
  gates.set(server, gate);
}

/** Ends one session of `server` with `reply` (e.g. at a deadline); false when it is gone. */
export function endSession(server: object, sessionId: string, reply: GateReply): boolean {
  const conn = findConnection(server, sessionId);
  if (!conn || conn._closing) return false;
  sendAndClose(conn, reply);
  return true;
}

/** Ends every session of `server` with `reply` (a stop: idle sessions would hold it open); how many there were. */
export function endAllSessions(server: object, reply: GateReply): number {
  let n = 0;
  for (const conn of (server as ServerLike).connections) {
    if (conn._closing) continue;
    sendAndClose(conn, reply);
    n++;
  }
  return n;
}

/** Applies the gate's idle timeout to one session of `server`, or to all of them. */
export function applyIdleTimeout(server: object, sessionId?: string): void {
  const gate = gates.get(server);
  const { connections, options } = server as ServerLike;
  for (const conn of connections) {
    if (sessionId !== undefined && conn.id !== sessionId) continue;
    // Without a callback, setTimeout only changes the delay of the listener smtp-server armed.
    conn._socket.setTimeout(gate?.idleTimeout(conn.session) ?? options.socketTimeout ?? 60_000);
  }
}

function findConnection(server: object, sessionId: string): ConnLike | undefined {
  for (const conn of (server as ServerLike).connections) if (conn.id === sessionId) return conn;
  return undefined;
}

function sendAndClose(conn: ConnLike, reply: GateReply): void {
  conn.send(reply.code, `${reply.enhanced} ${reply.text}`, false);
  conn.close();
}

/** What each listener's server emits (as 'smtp_violation') when a guard refuses a session. */
export type ViolationKind = 'bare_lf_command' | 'early_data';

/** The command line each session is handling now, as bytes (keyed by smtp-server's session object). */
const current = new WeakMap<object, Buffer>();

/**
 * The bytes of the command the session is handling (MAIL, RCPT…), before smtp-server
 * decoded it and turned xn-- labels into Unicode. Commands run one at a time per session
 * (the parser waits for each one's callback), so this is the line of the handler calling.
 */
export function commandBytes(session: object): Buffer | undefined {
  return current.get(session);
}

export function applySmtpGuards(): void {
  if (applied) return;
  applied = true;
  const proto = (SMTPConnection as unknown as { prototype: ConnLike }).prototype;

  const send = proto.send;
  proto.send = function (this: ConnLike, code: number, data: unknown, context?: unknown) {
    const derived = context === false ? '' : this._getEnhancedStatusCode(code, context);
    const w = wireReply(code, data, context, derived);
    send.call(this, code, w.data, w.context);
    const gate = this._server ? gates.get(this._server) : undefined;
    if (gate && code >= 400 && code !== 421 && !this._closing) {
      const end = gate.reply(this.session, code);
      if (end) sendAndClose(this, end);
    }
  };

  const onCommand = proto._onCommand;
  proto._onCommand = function (this: ConnLike, command: Buffer, callback?: () => void) {
    const gate = this._server ? gates.get(this._server) : undefined;
    // Lines of an AUTH exchange (_nextHandler) are not commands; during a TLS handshake
    // smtp-server discards what arrives.
    if (gate && !this._nextHandler && !this._upgrading && !this._closing) {
      const verb = (command ?? '').toString('latin1').split(' ')[0]?.trim().toUpperCase() ?? '';
      const end = gate.command(this.session, verb);
      if (end) return sendAndClose(this, end);
    }
    return onCommand.call(this, command, callback);
  };

  const armTimeout = proto._armTimeout;
  proto._armTimeout = function (this: ConnLike, socket = this._socket) {
    armTimeout.call(this, socket);
    const ms = this._server ? gates.get(this._server)?.idleTimeout(this.session) : null;
    if (ms != null) socket.setTimeout(ms);
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
  // smtp-stream calls oncommand without a callback for the last, unterminated line of a
  // stream that ended (_flushData): found by the 10-minute fuzz run.
  parser.oncommand = (line: Buffer, cb?: () => void) => {
    parser.__consumed = (parser.__consumed ?? 0) + line.length + 2;
    if (!conn._upgrading) {
      current.set(conn.session, line);
      if (!isUtf8(line)) {
        // RFC 6531 §3.3 extends the command syntax with UTF-8 (RFC 3629) only; other
        // bytes match no command (500, RFC 5321 §4.2.2; 5.5.2 syntax error, RFC 3463 §3.6).
        // RFC 3629 §10: decoders must not turn invalid sequences into characters.
        conn.send(500, '5.5.2 Syntax error: the command is not valid UTF-8', false);
        cb?.();
        return;
      }
    }
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
