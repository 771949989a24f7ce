// A session has a lifetime (session_timeout, default 30m for untrusted clients): a
// client that keeps its slot with a NOOP now and then, fewer than the junk limit (or with
// a message between them, which resets it), cannot hold the slot forever. At the first
// command past the lifetime it gets `421 4.4.2` and the connection is closed. A fake
// clock stands in for the half hour.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';
import { FakeClock } from '../support/fake-clock.js';

const clock = new FakeClock(Date.now());
const env = useLimitsGateway('127.0.0.47', '', '', clock);

test('an untrusted session still sending NOOPs after 30 minutes is ended with 421 4.4.2', async () => {
  const { c } = await env.connect('127.0.0.18');
  expect((await c.cmd('EHLO keepalive.test'))?.code).toBe(250);
  for (let minute = 0; minute < 29; minute++) {
    expect((await c.cmd('NOOP'))?.code).toBe(250);
    clock.advance(60_000);
  }
  expect((await c.cmd('NOOP'))?.code).toBe(250);
  clock.advance(60_000);
  const r = await c.cmd('NOOP');
  expect(r?.code).toBe(421);
  expect(r?.text).toBe('4.4.2 Session time limit reached, closing connection');
  expect(await c.read()).toBeNull();
  expect(await env.refused('session_timeout')).toBe(1);
});

test('a trusted session has no lifetime by default', async () => {
  const { c } = await env.connect('127.0.0.1');
  expect((await c.cmd('EHLO app.test'))?.code).toBe(250);
  clock.advance(5 * 3_600_000);
  expect((await c.cmd('NOOP'))?.code).toBe(250);
});
