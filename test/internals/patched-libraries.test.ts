// Library internals Sluice depends on. Each of these is private API that a minor or patch
// release may change without notice; package.json pins these packages to exact versions,
// and this file is what must pass before a pin moves. A failure names the internal and
// the Sluice file that relies on it, so an upgrade cannot silently undo a security fix
// (the smuggling guards) or a behaviour (reload, lease hand-back, config suggestions).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection as ServerConnection } from 'smtp-server/lib/smtp-connection.js';
import NodemailerConnection from 'nodemailer/lib/smtp-connection/index.js';
import { z } from 'zod';
import { knownKeysAt } from '../../gateway/config/known-keys.js';

function internal(ok: boolean, what: string, user: string): void {
  expect(ok, `library internal changed: ${what} (relied on by ${user}); re-check that file before moving the pin`).toBe(true);
}

describe('smtp-server (gateway/ingress/smtp-guards.ts, gateway/ingress/listener.ts)', () => {
  let server: SMTPServer;
  let port = 0;
  const seen: Record<string, unknown>[] = [];

  beforeAll(async () => {
    server = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, size: 1000 });
    // The connection object as the server makes it, caught at its first command.
    server.on('connect' as never, () => undefined);
    const proto = (ServerConnection as unknown as { prototype: Record<string, unknown> }).prototype;
    const createParser = proto['_createParser'] as (this: Record<string, unknown>) => Record<string, unknown>;
    proto['_createParser'] = function (this: Record<string, unknown>) {
      const parser = createParser.call(this);
      seen.push({ conn: this, parser });
      return parser;
    };
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = ((server as unknown as { server: net.Server }).server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('SMTPConnection.prototype has send(code, data, context) and _createParser()', () => {
    const proto = (ServerConnection as unknown as { prototype: Record<string, unknown> }).prototype;
    internal(typeof proto['send'] === 'function', 'SMTPConnection.prototype.send', 'gateway/ingress/smtp-guards.ts');
    internal(typeof proto['_createParser'] === 'function', 'SMTPConnection.prototype._createParser', 'gateway/ingress/smtp-guards.ts');
  });

  test('a session has a parser with _write, oncommand, _dataMode and _remainder; the connection knows its _server', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.end('QUIT\r\n');
    await new Promise((r) => socket.once('close', r));
    const last = seen.at(-1) as { conn: Record<string, unknown>; parser: Record<string, unknown> } | undefined;
    internal(last !== undefined, '_createParser is called once per session', 'gateway/ingress/smtp-guards.ts');
    const parser = last!.parser;
    internal(typeof parser['_write'] === 'function', 'parser._write', 'gateway/ingress/smtp-guards.ts');
    internal(typeof parser['oncommand'] === 'function', 'parser.oncommand', 'gateway/ingress/smtp-guards.ts');
    internal(typeof parser['_dataMode'] === 'boolean', 'parser._dataMode', 'gateway/ingress/smtp-guards.ts');
    internal(typeof parser['_remainder'] === 'string', 'parser._remainder', 'gateway/ingress/smtp-guards.ts');
    internal(last!.conn['_server'] === server, 'connection._server', 'gateway/ingress/smtp-guards.ts');
  });

  test('server.options is read per command, so a reload of size takes effect on the next EHLO', async () => {
    const options = (server as unknown as { options?: Record<string, unknown> }).options;
    internal(options !== undefined && options['size'] === 1000, 'SMTPServer.options', 'gateway/ingress/listener.ts prepare()');
    options!['size'] = 4321;
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write('EHLO client.example\r\n');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (/^250 /m.test(text)) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    socket.end('QUIT\r\n');
    internal(/250[- ]SIZE 4321\r\n/.test(text), 'SIZE in EHLO read from server.options.size per session', 'gateway/ingress/listener.ts prepare()');
  });

  test('server.server is the net.Server (its address gives the bound port)', () => {
    const inner = (server as unknown as { server?: net.Server }).server;
    internal(inner instanceof net.Server, 'SMTPServer.server', 'gateway/ingress/listener.ts listen()');
  });
});

describe('nodemailer (gateway/delivery/session.ts)', () => {
  test('an SMTPConnection exposes its socket as _socket once connected', async () => {
    // A minimal peer: greeting, EHLO, QUIT.
    const listener = net.createServer((s) => {
      s.write('220 test ESMTP\r\n');
      s.on('data', (d) => {
        const line = d.toString('latin1');
        if (/^EHLO/i.test(line)) s.write('250 test\r\n');
        else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
      });
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as net.AddressInfo).port;
    const conn = new NodemailerConnection({ host: '127.0.0.1', port, ignoreTLS: true, logger: false } as NodemailerConnection.Options);
    conn.on('error', () => undefined);
    await new Promise<void>((resolve) => conn.connect(() => resolve()));
    const socket = (conn as unknown as { _socket?: unknown })._socket;
    internal(socket instanceof net.Socket, 'SMTPConnection._socket', 'gateway/delivery/session.ts close() and connect()');
    conn.close();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });
});

describe('zod (gateway/config/known-keys.ts)', () => {
  test('schema._zod.def carries type, shape, element, valueType, innerType, options and in', () => {
    const schema = z.strictObject({
      a: z.strictObject({ b: z.number().default(1) }).default({ b: 1 }),
      list: z.array(z.strictObject({ c: z.string() })),
      map: z.record(z.string(), z.strictObject({ d: z.string().optional() })),
      either: z.union([z.string(), z.strictObject({ e: z.string() })]),
      piped: z.string().transform((s) => s.length).pipe(z.number()),
    });
    const keys = (path: PropertyKey[]) => knownKeysAt(schema, path);
    internal(keys([]).join() === 'a,list,map,either,piped', '_zod.def.shape of an object', 'gateway/config/known-keys.ts');
    internal(keys(['a']).join() === 'b', '_zod.def.innerType of a default', 'gateway/config/known-keys.ts');
    internal(keys(['list', 0]).join() === 'c', '_zod.def.element of an array', 'gateway/config/known-keys.ts');
    internal(keys(['map', 'x']).join() === 'd', '_zod.def.valueType of a record', 'gateway/config/known-keys.ts');
    internal(keys(['either']).join() === 'e', '_zod.def.options of a union', 'gateway/config/known-keys.ts');
  });
});
