/**
 * TLS before AUTH, and no STARTTLS where a listener has no TLS: two rules smtp-server
 * does not keep by itself.
 *
 * - smtp-server lists `AUTH PLAIN LOGIN` in EHLO before STARTTLS and answers an early
 *   AUTH with a non-standard 538 only after the client has sent its password. RFC 4954
 *   §4 lets a server refuse AUTH until TLS, and RFC 3207 §4 gives the reply for a
 *   command that needs TLS first: `530 5.7.0 Must issue a STARTTLS command first`
 *   (538 5.7.11, RFC 4954 §6, is for one mechanism that needs encryption while others
 *   would do; here none would). So without TLS, EHLO does not list AUTH and AUTH gets
 *   530 before any credentials are read, unless the listener sets allowInsecureAuth
 *   (`allow_insecure_auth`, loopback only, see config/cross-check.ts).
 * - `hideSTARTTLS` (our `tls = "none"`) only hides the keyword: a client sending
 *   STARTTLS anyway got a TLS session. A listener that does not offer a command does
 *   not run it: `502 5.5.1` (RFC 5321 §4.2.4, not implemented), as Postfix answers
 *   without TLS; not 454 (RFC 3207 §4), which would invite the client to try again.
 *
 * Patches to three handlers of smtp-server's connection class (handler_EHLO,
 * handler_AUTH, handler_STARTTLS), applied once; test/e2e/auth-before-tls.test.ts and
 * test/e2e/starttls-refused.test.ts fail if an upgrade changes them.
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { replies, type SmtpReply } from './replies.js';

type Done = (err?: Error | null) => void;

interface ConnLike {
  // Function-typed members taking `this`: the originals are kept and re-applied with .call(this).
  secure: boolean;
  send: (this: ConnLike, code: number, data: unknown, context?: unknown) => void;
  _server: { options: { allowInsecureAuth?: boolean; hideSTARTTLS?: boolean } };
  handler_EHLO: (this: ConnLike, command: Buffer, callback: Done) => void;
  handler_AUTH: (this: ConnLike, command: Buffer, callback: Done) => void;
  handler_STARTTLS: (this: ConnLike, command: Buffer, callback: Done) => void;
}

let applied = false;

export function applyTlsPolicy(): void {
  if (applied) return;
  applied = true;
  const proto = (SMTPConnection as unknown as { prototype: ConnLike }).prototype;
  const ehlo = proto.handler_EHLO;
  const auth = proto.handler_AUTH;
  const starttls = proto.handler_STARTTLS;

  proto.handler_EHLO = function (this: ConnLike, command: Buffer, callback: Done) {
    if (!authHidden(this)) return ehlo.call(this, command, callback);
    // handler_EHLO sends its one reply synchronously: drop the AUTH line from it.
    const send = this.send;
    this.send = (code, data, context) => send.call(this, code, Array.isArray(data) ? data.filter((line) => !/^AUTH\b/i.test(String(line))) : data, context);
    try {
      ehlo.call(this, command, callback);
    } finally {
      delete (this as { send?: unknown }).send;
    }
  };

  proto.handler_AUTH = function (this: ConnLike, command: Buffer, callback: Done) {
    if (!authHidden(this)) return auth.call(this, command, callback);
    reply(this, replies.tlsRequired);
    callback();
  };

  proto.handler_STARTTLS = function (this: ConnLike, command: Buffer, callback: Done) {
    if (this.secure || !this._server.options.hideSTARTTLS) return starttls.call(this, command, callback);
    reply(this, replies.tlsNotAvailable);
    callback();
  };
}

function authHidden(conn: ConnLike): boolean {
  return !conn.secure && conn._server.options.allowInsecureAuth !== true;
}

function reply(conn: ConnLike, r: SmtpReply): void {
  conn.send(r.code, `${r.enhanced} ${r.text}`, false);
}
