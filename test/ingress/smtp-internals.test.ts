// smtp-guards.ts patches smtp-server's connection class (send, _onCommand, _armTimeout,
// _createParser) and reads its fields (_server, _socket, session, the server's
// connections). This file fails when an upgrade of smtp-server changes any of them, so
// the client limits cannot silently stop working.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { applyIdleTimeout, applySmtpGuards, endSession, setSessionGate, type GateSession } from '../../gateway/ingress/smtp-guards.js';
import { RawSmtp } from '../support/smtp-client.js';

const errors: { id: string; code: number }[] = [];
let idle: number | null = null;
let server: SMTPServer;
let port = 0;

beforeAll(async () => {
  applySmtpGuards();
  server = new SMTPServer({ authOptional: true, disableReverseLookup: true, logger: false, socketTimeout: 60_000 });
  setSessionGate(server, {
    command: (_s: GateSession, verb: string) => (verb === 'VRFY' ? { code: 421, enhanced: '4.7.0', text: 'Gate says no' } : null),
    reply: (s: GateSession, code: number) => {
      errors.push({ id: s.id, code });
      return errors.length >= 2 ? { code: 421, enhanced: '4.7.0', text: 'Second error' } : null;
    },
    idleTimeout: () => idle,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

type Conn = { id: string; session: { id: string }; _socket: { timeout?: number } };
const connections = () => [...(server as unknown as { connections: Set<Conn> }).connections];

test('the patched methods exist on the connection prototype', () => {
  const proto = (SMTPConnection as unknown as { prototype: Record<string, unknown> }).prototype;
  for (const name of ['send', 'close', '_onCommand', '_armTimeout', '_createParser']) expect(typeof proto[name]).toBe('function');
});

test('a gate ends a session before a command runs, with our reply, and the connection closes', async () => {
  const c = await RawSmtp.open(port);
  expect((await c.read())?.code).toBe(220);
  expect((await c.cmd('EHLO gate.test'))?.code).toBe(250);
  const r = await c.cmd('VRFY root');
  expect(r?.lines).toEqual(['421 4.7.0 Gate says no']);
  expect(await c.read()).toBeNull();
});

test('error replies reach the gate with the session id, which can end the session', async () => {
  errors.length = 0;
  const c = await RawSmtp.open(port);
  await c.read();
  const id = connections()[0]?.id;
  expect((await c.cmd('MAIL FROM:<a@b.test>'))?.code).toBe(503);
  expect((await c.cmd('RCPT TO:<a@b.test>'))?.code).toBe(503);
  expect((await c.read())?.lines).toEqual(['421 4.7.0 Second error']);
  expect(errors).toEqual([{ id, code: 503 }, { id, code: 503 }]);
  expect(await c.read()).toBeNull();
});

test('the gate sets the idle timeout of the socket, and endSession ends a session by id', async () => {
  idle = 1234;
  const c = await RawSmtp.open(port);
  await c.read();
  const conn = connections()[0] as Conn;
  expect(conn.session.id).toBe(conn.id);
  expect(conn._socket.timeout).toBe(1234);
  idle = 4321;
  applyIdleTimeout(server, conn.id);
  expect(conn._socket.timeout).toBe(4321);
  idle = null;
  applyIdleTimeout(server);
  expect(conn._socket.timeout).toBe(60_000);
  expect(endSession(server, conn.id, { code: 421, enhanced: '4.4.2', text: 'Deadline' })).toBe(true);
  expect((await c.read())?.lines).toEqual(['421 4.4.2 Deadline']);
  expect(await c.read()).toBeNull();
});
