// smtp-guards.ts patches smtp-server's connection class and reads some of its private
// fields. This fails when an smtp-server upgrade renames or changes one of them, instead
// of the guards silently doing nothing (STYLE.md: no private fields without such a test).
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface Internals {
  session: object;
  _upgrading: unknown;
  _getEnhancedStatusCode(code: number, context?: unknown): string;
  _parser: { _dataMode: unknown; _remainder: unknown; oncommand: unknown; _write: unknown };
}

let server: SMTPServer;
let port = 0;
beforeAll(async () => {
  server = new SMTPServer({ logger: false, disableReverseLookup: true, authOptional: true, hideENHANCEDSTATUSCODES: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('the prototype methods the guards wrap exist', () => {
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  for (const m of ['send', '_createParser', '_getEnhancedStatusCode']) expect(typeof proto[m], m).toBe('function');
});

test('a live connection has the fields the guards read, and keeps one session object', async () => {
  const socket = connect(port, '127.0.0.1');
  const lines: string[] = [];
  socket.on('data', (d: Buffer) => lines.push(...d.toString('latin1').split('\r\n').filter(Boolean)));
  await expect.poll(() => lines.length).toBeGreaterThan(0);
  const conn = [...(server as unknown as { connections: Set<Internals> }).connections][0] as Internals;
  expect(conn._upgrading).toBe(false);
  expect(typeof conn.session).toBe('object');
  expect(conn._parser._dataMode).toBe(false);
  expect(conn._parser._remainder).toBe('');
  expect(typeof conn._parser.oncommand).toBe('function');
  expect(typeof conn._parser._write).toBe('function');
  // reply-wire.ts relies on these: no code for the greeting or HELO/EHLO, RFC 3463 defaults otherwise.
  expect(conn._getEnhancedStatusCode(250, 'EHLO')).toBe('');
  expect(conn._getEnhancedStatusCode(501, false)).toBe('');
  expect(conn._getEnhancedStatusCode(501)).toBe('5.5.4');
  expect(conn._getEnhancedStatusCode(354)).toBe('');
  // commandBytes() keys on the session object: EHLO and RSET reset it in place.
  const session = conn.session;
  socket.write('EHLO a.test\r\nRSET\r\n');
  await expect.poll(() => lines.some((l) => l.startsWith('250 ') && l.includes('Flushed'))).toBe(true);
  expect(conn.session).toBe(session);
  socket.destroy();
});
