// Behind a balancer (proxy = true) every TCP session comes from the balancer's address;
// the per-address limits count the client address of the PROXY header instead, so one
// client behind the balancer is capped and the others are not locked out with it.
import { afterAll, expect, test } from 'vitest';
import { useLimitsGateway } from '../support/limits.js';
import { RawSmtp, type Reply } from '../support/smtp-client.js';

const env = useLimitsGateway('127.0.0.48', 'proxy = true\nmax_connections = 6');

const sessions: RawSmtp[] = [];
afterAll(() => sessions.forEach((c) => c.close()));

async function greetingVia(clientIp: string): Promise<Reply | null> {
  const c = await RawSmtp.open(env.gw.port(), { localAddress: '127.0.0.1' });
  sessions.push(c);
  c.write(`PROXY TCP4 ${clientIp} 127.0.0.1 40000 25\r\n`);
  return c.read();
}

test('the cap (half of max_connections: 3) applies to the address in the PROXY header', async () => {
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await greetingVia('127.0.0.50'))?.code);
  expect(codes).toEqual([220, 220, 220, 421]);
  // Same balancer, another client: served.
  expect((await greetingVia('127.0.0.51'))?.code).toBe(220);
  expect(await env.refused('connections_per_ip')).toBe(1);
});
