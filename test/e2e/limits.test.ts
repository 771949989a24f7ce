// Size and recipient limits: SIZE is advertised, a declared size over the limit is refused
// at MAIL, an undeclared one while streaming (552 5.3.4), and the recipient limit answers 452 4.5.3.
import { expect, test } from 'vitest';
import { useRelayToMx } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const env = useRelayToMx('127.0.0.23', `
[relay]
max_message_size = "10KB"
max_recipients = 3
`);

async function open(): Promise<{ c: RawSmtp; ehlo: string[] }> {
  const c = await RawSmtp.open(env.gw.port());
  await c.read();
  const r = await c.cmd('EHLO app.test');
  return { c, ehlo: [...(r?.lines ?? [])] };
}

test('EHLO advertises SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS', async () => {
  const { c, ehlo } = await open();
  const text = ehlo.join('\n');
  for (const ext of ['SIZE 10240', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS']) expect(text).toContain(ext);
  c.close();
});

test('a declared SIZE over the limit is refused at MAIL FROM', async () => {
  const { c } = await open();
  const r = await c.cmd('MAIL FROM:<app@example.com> SIZE=20000');
  expect(r?.code).toBe(552);
  c.close();
});

test('an oversized message is refused with 552 5.3.4 and nothing is delivered', async () => {
  const { c } = await open();
  const big = message({ body: 'x'.repeat(76).concat('\r\n').repeat(300) });
  const r = await c.send('app@example.com', ['big@example.net'], big);
  expect(r?.code).toBe(552);
  expect(r?.text).toMatch(/^5\.3\.4/);
  // The session goes on: the next, small message is accepted.
  expect((await c.send('app@example.com', ['small@example.net'], message()))?.code).toBe(250);
  c.close();
  await env.mx.waitFor(1);
  expect(env.mx.messages.some((m) => m.rcpts.includes('big@example.net'))).toBe(false);
});

test('recipients past max_recipients get 452 4.5.3', async () => {
  const { c } = await open();
  await c.cmd('MAIL FROM:<app@example.com>');
  for (let i = 0; i < 3; i++) expect((await c.cmd(`RCPT TO:<r${i}@example.net>`))?.code).toBe(250);
  const r = await c.cmd('RCPT TO:<r3@example.net>');
  expect(r?.code).toBe(452);
  expect(r?.text).toMatch(/^4\.5\.3/);
  c.close();
});
