// A session that sends commands without ever sending mail ends (issue 10: 100 sessions
// sending NOOP every 4 s held every slot). Like Postfix's smtpd_junk_command_limit
// (100): the 101st NOOP/RSET/VRFY/… since the last accepted message gets `421 4.7.0`
// and the connection is closed.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';

const env = useLimitsGateway('127.0.0.43');

test('an untrusted client looping on NOOP and RSET is disconnected after 100', async () => {
  const { c, greeting } = await env.connect('127.0.0.15');
  expect(greeting?.code).toBe(220);
  expect((await c.cmd('EHLO loop.test'))?.code).toBe(250);
  let replies = 0;
  for (let i = 0; i < 100; i++) {
    const r = await c.cmd(i % 2 ? 'RSET' : 'NOOP');
    expect(r?.code).toBe(250);
    replies++;
  }
  expect(replies).toBe(100);
  const last = await c.cmd('NOOP');
  expect(last?.code).toBe(421);
  expect(last?.text).toBe('4.7.0 Too many commands without a message, closing connection');
  expect(await c.read()).toBeNull();
  expect(await env.refused('junk_commands')).toBe(1);
});

test('pipelined, the loop ends at the same point and the rest is never answered', async () => {
  const { c } = await env.connect('127.0.0.16');
  c.write('EHLO loop.test\r\n' + 'NOOP\r\n'.repeat(300));
  const codes: number[] = [];
  for (;;) {
    const r = await c.read();
    if (r === null) break;
    codes.push(r.code);
  }
  expect(codes.length).toBe(102);
  expect(codes.at(-1)).toBe(421);
});
