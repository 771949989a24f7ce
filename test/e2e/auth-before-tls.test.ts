// Submission: before STARTTLS, EHLO lists no AUTH and AUTH is refused with 530 5.7.0
// (RFC 3207 §4) before any credentials are read; after STARTTLS it is listed and works.
// allow_insecure_auth (loopback only) opts a listener out.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { RawSmtp } from '../support/smtp-client.js';
import { plain } from '../support/submission.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

let gw: TestGateway;

beforeAll(async () => {
  const hash = await hashPassword('right-password');
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
tls = "none"
allow_insecure_auth = true
[[users]]
name = "app1"
password_hash = "${hash}"
`);
});
afterAll(() => gw.stop());

async function plainSession(port: number): Promise<{ c: RawSmtp; ehlo: readonly string[] }> {
  const c = await RawSmtp.open(port);
  await c.read();
  const r = await c.cmd('EHLO app.test');
  return { c, ehlo: r?.lines ?? [] };
}

test('EHLO before STARTTLS lists STARTTLS and no AUTH', async () => {
  const { c, ehlo } = await plainSession(gw.port(0));
  expect(ehlo.some((l) => /^250[- ]STARTTLS$/.test(l))).toBe(true);
  expect(ehlo.some((l) => /AUTH/i.test(l))).toBe(false);
  c.close();
});

test('AUTH before STARTTLS gets 530 5.7.0 and authenticates nothing, even with the right password', async () => {
  const { c } = await plainSession(gw.port(0));
  const r = await c.cmd(`AUTH PLAIN ${plain('app1', 'right-password')}`);
  expect(r?.code).toBe(530);
  expect(r?.text).toBe('5.7.0 Must issue a STARTTLS command first');
  // Still not authenticated: mail is refused.
  expect((await c.cmd('MAIL FROM:<app@example.com>'))?.code).toBe(530);
  // AUTH LOGIN is refused before the 334 prompt: the client is never asked for a password.
  const login = await c.cmd('AUTH LOGIN');
  expect(login?.code).toBe(530);
  c.close();
});

test('after STARTTLS, EHLO lists AUTH PLAIN LOGIN and the right password works', async () => {
  const c = await RawSmtp.open(gw.port(0));
  await c.read();
  await c.cmd('EHLO app.test');
  await c.starttls();
  const ehlo = await c.cmd('EHLO app.test');
  expect(ehlo?.lines).toContain('250-AUTH PLAIN LOGIN');
  expect((await c.cmd(`AUTH PLAIN ${plain('app1', 'right-password')}`))?.code).toBe(235);
  c.close();
});

test('allow_insecure_auth on a loopback listener lists and accepts AUTH in clear text', async () => {
  const { c, ehlo } = await plainSession(gw.port(1));
  expect(ehlo).toContain('250-AUTH PLAIN LOGIN');
  expect((await c.cmd(`AUTH PLAIN ${plain('app1', 'right-password')}`))?.code).toBe(235);
  c.close();
});
