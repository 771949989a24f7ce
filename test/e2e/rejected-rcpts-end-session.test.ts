// Rejected recipients end a session (issue 10: 200 in a row never did). Like Postfix's
// smtpd_hard_error_limit (20): after 20 error replies without an accepted message the
// client gets `421 4.7.0` and the connection is closed.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';

const env = useLimitsGateway('127.0.0.44');

test('200 pipelined relay attempts from an untrusted client: 20 × 550 5.7.1, then 421 4.7.0 and close', async () => {
  const { c } = await env.connect('127.0.0.17');
  expect((await c.cmd('EHLO guess.test'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<a@guess.test>'))?.code).toBe(250);
  let rcpts = '';
  for (let i = 0; i < 200; i++) rcpts += `RCPT TO:<victim${i}@example.net>\r\n`;
  c.write(rcpts);
  const replies = [];
  for (;;) {
    const r = await c.read();
    if (r === null) break;
    replies.push(r);
  }
  const denied = replies.filter((r) => r.code === 550);
  expect(denied.length).toBe(20);
  expect(denied[0]?.text).toMatch(/^5\.7\.1 /);
  expect(replies.length).toBe(21);
  expect(replies.at(-1)?.code).toBe(421);
  expect(replies.at(-1)?.text).toBe('4.7.0 Too many errors, closing connection');
  expect(await env.refused('errors')).toBe(1);
});

test('a trusted client with a few rejected recipients per message keeps its session', async () => {
  const { c } = await env.connect('127.0.0.1');
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  for (let i = 0; i < 30; i++) expect((await c.cmd(`RCPT TO:<nomail${i}@example.net>`))?.code).toBe(503);
  expect((await c.cmd('NOOP'))?.code).toBe(250);
});
