// [limits] is read from the current config at each use: a reload tightens the limits of
// sessions already open, at their next command.
import { readFileSync, writeFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';

const env = useLimitsGateway('127.0.0.49');

test('a reload that lowers max_errors ends an open untrusted session at its next error', async () => {
  const { c } = await env.connect('127.0.0.19');
  expect((await c.cmd('EHLO probe.test'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<a@probe.test>'))?.code).toBe(250);
  for (let i = 0; i < 3; i++) expect((await c.cmd(`RCPT TO:<r${i}@example.net>`))?.code).toBe(550);

  writeFileSync(env.gw.configFile, `${readFileSync(env.gw.configFile, 'utf8')}\n[limits]\nmax_errors = 4\n`);
  const result = await env.gw.node.reload('test');
  expect(result.changes.join('\n')).toMatch(/limits/);

  expect((await c.cmd('RCPT TO:<r3@example.net>'))?.code).toBe(550);
  expect((await c.read())?.text).toBe('4.7.0 Too many errors, closing connection');
  expect(await c.read()).toBeNull();
});
