// One address not in relay.networks cannot take every session of a listener (issue 10:
// 100 sessions from one address locked a trusted client out). By default it gets at most
// half of max_connections (here 20 → 10); the next gets `421 4.7.0` and a closed
// connection, and a client from relay.networks still gets in.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';

const env = useLimitsGateway('127.0.0.41', 'max_connections = 20');

test('an untrusted address holds at most half the listener; a trusted client still gets in', async () => {
  const sessions = [];
  for (let i = 0; i < 20; i++) sessions.push(await env.connect('127.0.0.12'));
  const greeted = sessions.filter((s) => s.greeting?.code === 220);
  const refused = sessions.filter((s) => s.greeting?.code === 421);
  expect(greeted.length).toBe(10);
  expect(refused.length).toBe(10);
  expect(refused[0]?.greeting?.text).toBe('4.7.0 Too many connections from your address, try again later');
  // The server closed the refused ones.
  expect(await refused[0]?.c.read()).toBeNull();

  const trusted = await env.connect('127.0.0.1');
  expect(trusted.greeting?.code).toBe(220);
  expect((await trusted.c.cmd('EHLO app.test'))?.code).toBe(250);
  expect(await env.refused('connections_per_ip')).toBe(10);

  // A session the address gives back can be taken again.
  expect((await greeted[0]?.c.cmd('QUIT'))?.code).toBe(221);
  let again = await env.connect('127.0.0.12');
  for (let i = 0; i < 20 && again.greeting?.code !== 220; i++) {
    await new Promise((r) => setTimeout(r, 50));
    again = await env.connect('127.0.0.12');
  }
  expect(again.greeting?.code).toBe(220);
});
