// The whole DATA phase has a deadline, not only the time between bytes (issue 10: a
// client trickling one byte every 2 s through DATA for 48 s was accepted). At
// data_timeout the client gets `421 4.4.2`, the connection is closed, and nothing of the
// message is accepted or delivered. Here 2 s (default 10m) and a byte every 200 ms.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';
import { message } from '../support/smtp-client.js';

const env = useLimitsGateway('127.0.0.45', '', `
[limits.trusted]
data_timeout = "2s"
`);

test('a message trickled byte by byte past data_timeout gets 421 4.4.2 and is not accepted', async () => {
  const { c } = await env.connect('127.0.0.1');
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<slow@example.net>'))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  const text = Buffer.from(`${message({ to: 'slow@example.net' })}.\r\n`, 'latin1');
  const started = Date.now();
  const reply = c.read(15_000);
  // One byte every 200 ms: the idle timeout (60 s) never fires, the whole message takes ~40 s.
  for (let i = 0; i < text.length && !c.closed; i++) {
    c.write(text.subarray(i, i + 1));
    await new Promise((r) => setTimeout(r, 200));
    if (Date.now() - started > 8000) break;
  }
  const r = await reply;
  expect(r?.code).toBe(421);
  expect(r?.text).toBe('4.4.2 Timeout: the message took too long to arrive, closing connection');
  expect(c.closed).toBe(true);
  expect(await env.refused('data_timeout')).toBe(1);
  // Nothing reached the MX (give a delivery that would have been queued time to happen).
  await new Promise((r) => setTimeout(r, 500));
  expect(env.mx.messages.length).toBe(0);
});

test('a message that arrives within the deadline is accepted as usual', async () => {
  const { c } = await env.connect('127.0.0.1');
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  expect((await c.send('app@example.com', ['fast@example.net'], message({ to: 'fast@example.net' })))?.code).toBe(250);
  await env.mx.waitFor(1);
  expect(env.mx.messages.map((m) => m.rcpts)).toEqual([['fast@example.net']]);
});
