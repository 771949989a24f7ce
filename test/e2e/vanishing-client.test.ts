// A client that vanishes mid-DATA leaves nothing behind (no spool entry, no delivery), and
// the node keeps serving everyone else.
import { expect, test } from 'vitest';
import { useRelayToMx } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const env = useRelayToMx('127.0.0.35');

test('half a message then a dropped connection: nothing queued, nothing delivered', async () => {
  for (let i = 0; i < 20; i++) {
    const c = await RawSmtp.open(env.gw.port());
    await c.read();
    await c.cmd('EHLO app.test');
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd(`RCPT TO:<vanish${i}@example.net>`);
    await c.cmd('DATA');
    c.write(message().slice(0, 60));
    c.close();
  }
  const ok = await RawSmtp.open(env.gw.port());
  await ok.read();
  await ok.cmd('EHLO app.test');
  expect((await ok.send('app@example.com', ['stays@example.net'], message()))?.code).toBe(250);
  ok.close();
  await env.mx.waitFor(1);
  await new Promise((r) => setTimeout(r, 500));
  expect(env.mx.messages.map((m) => m.rcpts[0])).toEqual(['stays@example.net']);
  expect(env.gw.node.scheduler.depth).toBe(0);
  // And nothing comes back from the spool after a restart either.
  await env.restart();
  expect(env.gw.node.scheduler.depth).toBe(0);
});
