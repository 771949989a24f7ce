/**
 * The smtp-server options of one listener, from its [[listen]] table and the config: what
 * it advertises, its TLS policy, limits smtp-server enforces itself, and the handlers.
 * Kept apart from listener.ts so that what goes on the wire at EHLO and TLS is in one place.
 */
import type { TLSSocket } from 'node:tls';
import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Config, ListenConfig } from '../config/schema.js';

/** The session handlers a listener gives smtp-server. */
export type SessionHandlers = Required<Pick<SMTPServerOptions, 'onConnect' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'>>;

export function serverOptions(listen: ListenConfig, config: Config, hostname: string, tls: { key: Buffer; cert: Buffer }, handlers: SessionHandlers): SMTPServerOptions {
  const submission = listen.mode === 'submission';
  return {
    name: hostname,
    banner: 'Sluice ESMTP',
    secure: listen.tls === 'implicit',
    key: tls.key,
    cert: tls.cert,
    // smtp-server's own default is TLSv1 with OpenSSL's default list (CBC suites included).
    minVersion: listen.tls_min_version,
    ciphers: listen.tls_ciphers,
    honorCipherOrder: true,
    hideSTARTTLS: listen.tls === 'none',
    size: config.relay.max_message_size,
    maxRecipients: config.relay.max_recipients,
    maxClients: listen.max_connections,
    socketTimeout: listen.socket_timeout,
    closeTimeout: config.node.drain_timeout,
    useProxy: listen.proxy,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !submission,
    // Without TLS, AUTH is neither listed nor run unless this is set (tls-policy.ts).
    allowInsecureAuth: listen.allow_insecure_auth,
    disabledCommands: submission ? [] : ['AUTH'],
    hideENHANCEDSTATUSCODES: false,
    hideSMTPUTF8: false,
    hide8BITMIME: false,
    hidePIPELINING: false,
    hideDSN: true,
    logger: false,
    // Client-initiated TLS 1.2 renegotiation costs the server a handshake per request
    // (a DoS lever, CVE-2011-1473); no SMTP client needs it.
    onSecure: (socket: TLSSocket, _session: SMTPServerSession, cb: (err?: Error | null) => void) => {
      socket.disableRenegotiation();
      cb();
    },
    ...handlers,
  };
}
