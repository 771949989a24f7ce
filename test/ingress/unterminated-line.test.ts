// The last line of a stream that ends without CRLF reaches the parser's oncommand without a
// callback (smtp-stream's _flushData). A line that is not valid UTF-8 there threw
// "cb is not a function" out of the guard, an uncaught exception in the node (found by
// the chaos suite's 10-minute SMTP fuzz run). It must be answered like any other.
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { applySmtpGuards } from '../../gateway/ingress/smtp-guards.js';

let server: SMTPServer;
let port = 0;
const uncaught: Error[] = [];
const onUncaught = (err: Error) => uncaught.push(err);

beforeAll(async () => {
  applySmtpGuards();
  process.on('uncaughtException', onUncaught);
  server = new SMTPServer({ authOptional: true, disableReverseLookup: true, logger: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = ((server as unknown as { server: net.Server }).server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('an unterminated last line that is not UTF-8 throws nothing, and the server serves the next client', async () => {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  await new Promise((resolve) => socket.once('data', resolve));
  // A Latin-1 byte, no CRLF, then the client half-closes.
  socket.end(Buffer.from('MAIL FROM:<j\xfcrgen@example.com>', 'latin1'));
  await new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(uncaught.map((e) => e.message)).toEqual([]);
  expect(text).toMatch(/^220 /);
  const next = net.connect(port, '127.0.0.1');
  const greeting = await new Promise<string>((resolve) => next.once('data', (d) => resolve(d.toString('latin1'))));
  next.end('QUIT\r\n');
  expect(greeting).toMatch(/^220 /);
});
