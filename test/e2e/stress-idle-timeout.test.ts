// Stress mode, as Postfix's stress-dependent overrides: from 80 % of max_connections
// (here 8 of 10) a listener is under stress, and idle untrusted sessions, the ones
// already open included, get the short stress.socket_timeout (here 1 s; default 10 s)
// instead of socket_timeout (60 s). Trusted sessions keep theirs. Entering and leaving
// are logged and shown by the sluice_ingress_stress gauge.
import { expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';
import type { RawSmtp, Reply } from '../support/smtp-client.js';

const env = useLimitsGateway('127.0.0.46', 'max_connections = 10', `
[limits.stress]
socket_timeout = "1s"
`);

test('near max_connections, idle untrusted sessions time out after stress.socket_timeout; trusted ones stay', async () => {
  const trusted = await env.connect('127.0.0.1');
  expect(trusted.greeting?.code).toBe(220);
  const untrusted: RawSmtp[] = [];
  for (const ip of ['127.0.0.31', '127.0.0.31', '127.0.0.31', '127.0.0.31', '127.0.0.32', '127.0.0.32']) {
    const s = await env.connect(ip);
    expect(s.greeting?.code).toBe(220);
    untrusted.push(s.c);
  }
  // 7 of 10: not under stress; an idle untrusted session keeps the 60 s timeout.
  await new Promise((r) => setTimeout(r, 1500));
  expect(untrusted.every((c) => !c.closed)).toBe(true);
  expect(await env.metric('sluice_ingress_stress')).toBe(0);

  const eighth = await env.connect('127.0.0.32');
  expect(eighth.greeting?.code).toBe(220);
  untrusted.push(eighth.c);
  expect(await env.metric('sluice_ingress_stress')).toBe(1);
  // Every untrusted session, the seven opened before the stress too, times out within ~1 s.
  const ends: (Reply | null)[] = await Promise.all(untrusted.map((c) => c.read(5000)));
  expect(ends.map((r) => r?.code)).toEqual(Array(7).fill(421));
  expect(ends[0]?.text).toMatch(/^4\.4\.2 Timeout/);
  // The trusted session is still served, and the listener left stress when they went.
  expect((await trusted.c.cmd('NOOP'))?.code).toBe(250);
  await new Promise((r) => setTimeout(r, 100));
  expect(await env.metric('sluice_ingress_stress')).toBe(0);
});
