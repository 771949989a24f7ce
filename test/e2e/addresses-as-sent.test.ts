// Envelope addresses are relayed exactly as the client sent them: a byte that is not
// UTF-8 is refused (500 5.5.2), never turned into U+FFFD; a non-ASCII address needs the
// SMTPUTF8 parameter (553 5.6.7 without it, RFC 6531 §3.4), and is never "upgraded";
// an xn-- domain is not turned into Unicode on the way through.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startRawMx, type RawMx } from '../support/raw-mx.js';

let mx: RawMx;
let gw: TestGateway;

beforeAll(async () => {
  mx = await startRawMx('127.0.0.26');
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "127.0.0.26:${mx.port}"
`);
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

async function open(): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

/** Sends one command line as these exact bytes. */
function bytes(c: RawSmtp, line: Buffer) {
  c.write(Buffer.concat([line, Buffer.from('\r\n')]));
  return c.read();
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const delivered = (needle: string) => mx.transactions.find((t) => t.lines.some((l) => l.includes(needle)));

test('a Latin-1 byte in RCPT TO is refused with 500 5.5.2, with or without SMTPUTF8, and the session goes on', async () => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<app@example.com> SMTPUTF8'))?.code).toBe(250);
  const r = await bytes(c, Buffer.concat([Buffer.from('RCPT TO:<j'), Buffer.from([0xfc]), Buffer.from('rgen-latin1@example.net>')]));
  expect(r?.code).toBe(500);
  expect(r?.text).toMatch(/^5\.5\.2 /);
  expect((await c.cmd('RSET'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  expect((await bytes(c, Buffer.from('RCPT TO:<j\xfcrgen-latin1@example.net>', 'latin1')))?.code).toBe(500);
  expect((await c.cmd('NOOP'))?.code).toBe(250);
  c.close();
});

test('a Latin-1 byte in MAIL FROM is refused with 500 5.5.2', async () => {
  const c = await open();
  const r = await bytes(c, Buffer.from('MAIL FROM:<j\xfcrgen@example.com>', 'latin1'));
  expect(r?.code).toBe(500);
  expect(r?.text).toMatch(/^5\.5\.2 /);
  c.close();
});

test('a UTF-8 recipient without SMTPUTF8 gets 553 5.6.7', async () => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  const r = await bytes(c, utf8('RCPT TO:<jürgen-plain@example.net>'));
  expect(r?.code).toBe(553);
  expect(r?.text).toMatch(/^5\.6\.7 /);
  const idn = await bytes(c, utf8('RCPT TO:<user@bücher.example>'));
  expect(idn?.code).toBe(553);
  expect(idn?.text).toMatch(/^5\.6\.7 /);
  c.close();
});

test('a UTF-8 sender without SMTPUTF8 gets 553 5.6.7', async () => {
  const c = await open();
  const r = await bytes(c, utf8('MAIL FROM:<jürgen@example.com>'));
  expect(r?.code).toBe(553);
  expect(r?.text).toMatch(/^5\.6\.7 /);
  c.close();
});

test('with SMTPUTF8 a UTF-8 recipient is accepted and relayed byte for byte', async () => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<app@example.com> SMTPUTF8'))?.code).toBe(250);
  expect((await bytes(c, utf8('RCPT TO:<jürgen-utf8@example.net>')))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ subject: 'utf8' })}.\r\n`);
  expect((await c.read())?.code).toBe(250);
  c.close();
  await expect.poll(() => delivered('-utf8@'), { timeout: 10_000 }).toBeDefined();
  const t = delivered('-utf8@');
  expect(t?.lines).toContain(`RCPT TO:<${utf8('jürgen-utf8@example.net').toString('latin1')}>`);
  expect(t?.lines[0]).toMatch(/ SMTPUTF8/);
});

test('an xn-- domain is relayed as sent, without SMTPUTF8, and once when given twice', async () => {
  const c = await open();
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<alabel@xn--mller-kva.example>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<ALabel@xn--mller-kva.example>'))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ subject: 'a-label' })}.\r\n`);
  expect((await c.read())?.code).toBe(250);
  c.close();
  await expect.poll(() => delivered('alabel@'), { timeout: 10_000 }).toBeDefined();
  const t = delivered('alabel@');
  expect(t?.lines.filter((l) => l.startsWith('RCPT'))).toEqual(['RCPT TO:<alabel@xn--mller-kva.example>']);
  expect(t?.lines[0]).not.toMatch(/SMTPUTF8/);
});
