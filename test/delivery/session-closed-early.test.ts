// A server that takes the TCP connection and closes it before any greeting (an overloaded
// MX, a firewall that resets after accept). nodemailer ends such a connection without an
// error and without calling back; the session used to wait on it forever, holding its
// connection slot. It is now a connection failure like a refused one.
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DeliverySession } from '../../gateway/delivery/session.js';

const server = createServer((socket) => socket.destroy());
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

it('a connection closed before the greeting is a 451 4.4.1 connection failure, not a session that never ends', async () => {
  const opened = await DeliverySession.open([{ name: 'mx.example.net', priority: 10, addresses: ['127.0.0.1'], port }], { name: 'tx1', ip: '127.0.0.1', ehlo: 'out.test' }, { connectTimeoutMs: 30_000, commandTimeoutMs: 30_000, tls: 'opportunistic' });
  expect(opened).not.toBeInstanceOf(DeliverySession);
  expect(opened).toMatchObject({ code: 451, enhanced: '4.4.1', text: 'connection failed: connection closed before the greeting', local: true });
});
