// What a TLS scanner (testssl.sh) probes on an implicit-TLS listener with default keys:
// no TLS 1.0/1.1 (RFC 8996), no CBC suites (LUCKY13), no client-initiated renegotiation
// (a handshake per request is a DoS lever); a modern client still gets in.
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
tls = "implicit"
[[users]]
name = "app1"
password_hash = "${await hashPassword('pw')}"
`);
});
afterAll(async () => {
  await gw.stop();
});

/** Resolves with the connected socket, or with the handshake error. */
function handshake(extra: ConnectionOptions): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: gw.port(0), rejectUnauthorized: false, ...extra });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (err) => resolve(err));
  });
}

test('a TLS 1.3 client and a TLS 1.2 client with an AEAD suite are served', async () => {
  const t13 = await handshake({});
  expect(t13).not.toBeInstanceOf(Error);
  expect((t13 as TLSSocket).getProtocol()).toBe('TLSv1.3');
  (t13 as TLSSocket).destroy();
  const t12 = await handshake({ maxVersion: 'TLSv1.2' });
  expect(t12).not.toBeInstanceOf(Error);
  expect((t12 as TLSSocket).getCipher().name).toMatch(/GCM|CHACHA20/);
  (t12 as TLSSocket).destroy();
});

test('TLS 1.0 and 1.1 are refused', async () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    const r = await handshake({ minVersion: version, maxVersion: version, ciphers: 'DEFAULT:@SECLEVEL=0' });
    expect(r, version).toBeInstanceOf(Error);
  }
});

test('a client that offers only CBC suites is refused', async () => {
  const r = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA256' });
  expect(r).toBeInstanceOf(Error);
});

test('client-initiated renegotiation is refused', async () => {
  const s = await handshake({ maxVersion: 'TLSv1.2' });
  expect(s).not.toBeInstanceOf(Error);
  const socket = s as TLSSocket;
  // After the greeting: the listener's onSecure (which disables renegotiation) has run.
  await new Promise((resolve) => socket.once('data', resolve));
  // The server tears the session down at the renegotiation attempt: the NOOP after it gets
  // no reply (a server that renegotiated would answer 250).
  const outcome = await new Promise<string>((resolve) => {
    socket.once('data', (d) => resolve(`reply: ${d.toString('latin1').trim()}`));
    socket.once('close', () => resolve('closed'));
    socket.renegotiate({}, () => socket.write('NOOP\r\n'));
  });
  expect(outcome).toBe('closed');
  socket.destroy();
});
