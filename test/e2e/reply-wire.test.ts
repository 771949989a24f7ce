// Every reply on the wire is printable ASCII and, except the greeting and the 250 to
// HELO/EHLO (RFC 2034 §4), carries an enhanced status code: smtp-server's own replies
// (bad HELO, unknown command, bad sequence, timeouts, too many clients), ours, and a
// plugin's reject text with non-ASCII characters in it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, tempDir, type TestGateway } from '../support/gateway.js';
import { RawSmtp, message, type Reply } from '../support/smtp-client.js';

let gw: TestGateway;
const ENHANCED = /^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} /;
const PRINTABLE = /^[\x20-\x7e]*$/;

beforeAll(async () => {
  const dir = tempDir();
  const plugin = join(dir, 'sect.mjs');
  writeFileSync(plugin, `export default { name: 'sect', hooks: { rcpt(ctx) {
    return ctx.rcpt.startsWith('sect@') ? ctx.reject(550, '5.7.1', 'Refused per \\u00a72 \\u2014 f\\u00fcr Sie') : ctx.next();
  } } };\n`);
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
max_connections = 1
socket_timeout = "1s"
[plugins]
order = ["${plugin}"]
[dns.static]
"*" = "127.0.0.28:9"
`, dir);
});
afterAll(() => gw.stop());

/** Every line of every reply: printable ASCII; an enhanced code unless `exempt`. */
function check(r: Reply | null, exempt = false): Reply {
  expect(r).not.toBeNull();
  const reply = r as Reply;
  for (const line of reply.lines) {
    expect(line, `non-ASCII in ${JSON.stringify(line)}`).toMatch(PRINTABLE);
    if (!exempt && !(reply.code >= 300 && reply.code < 400)) expect(line, `no enhanced code in ${JSON.stringify(line)}`).toMatch(ENHANCED);
  }
  return reply;
}

test('a scripted bad session: every reply ASCII with an enhanced code', async () => {
  const c = await RawSmtp.open(gw.port());
  check(await c.read(), true); // the greeting
  const badHelo = check(await c.cmd('HELO bad\x01name'));
  expect(badHelo.code).toBe(501);
  expect(badHelo.text).toMatch(/^5\.5\.4 /);
  check(await c.cmd('HELO'));
  check(await c.cmd('EHLO'));
  check(await c.cmd('EHLO ok.test'), true);
  check(await c.cmd('HELO ok.test'), true);
  check(await c.cmd('EHLO ok.test'), true);
  for (const cmd of ['FOO bar', 'MAIL FROM:<bad', 'RCPT TO:<x@example.net>', 'DATA', 'VRFY', 'VRFY x', 'HELP', 'NOOP', 'RSET', 'STARTTLS extra', 'AUTH PLAIN', 'MAIL FROM:<a@example.com> SMTPUTF8=x', 'MAIL FROM:<a@example.com> BODY=foo']) {
    const r = check(await c.cmd(cmd));
    expect(r.code, cmd).not.toBe(0);
  }
  expect(check(await c.cmd('MAIL FROM:<a@example.com>')).code).toBe(250);
  expect(check(await c.cmd('MAIL FROM:<b@example.com>')).code).toBe(503);
  check(await c.cmd('RCPT TO:<no-at-sign>'));
  c.write(Buffer.from('RCPT TO:<j\xfcrgen@example.net>\r\n', 'latin1'));
  expect(check(await c.read()).code).toBe(500);
  c.write(Buffer.from('RCPT TO:<jürgen@example.net>\r\n', 'utf8'));
  expect(check(await c.read()).code).toBe(553);
  const sect = check(await c.cmd('RCPT TO:<sect@example.net>'));
  expect(sect.code).toBe(550);
  expect(sect.text).toMatch(/^5\.7\.1 Refused per \?2 \? f\?r Sie$/);
  expect(check(await c.cmd('RCPT TO:<ok@example.net>')).code).toBe(250);
  expect(check(await c.cmd('DATA')).code).toBe(354);
  const hops = Array.from({ length: 60 }, () => 'Received: from a by b');
  c.write(`${message({ headers: hops })}.\r\n`);
  expect(check(await c.read()).code).toBe(554);
  expect(check(await c.cmd('QUIT')).code).toBe(221);
  c.close();
});

test('an HTTP request: 421 with an enhanced code', async () => {
  const c = await RawSmtp.open(gw.port());
  check(await c.read(), true);
  expect(check(await c.cmd('GET / HTTP/1.1')).code).toBe(421);
  c.close();
});

test('message text before the 354: the 554 is ASCII', async () => {
  const c = await RawSmtp.open(gw.port());
  check(await c.read(), true);
  check(await c.cmd('EHLO ok.test'), true);
  c.write('MAIL FROM:<a@example.com>\r\nRCPT TO:<early@example.net>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n');
  check(await c.read());
  check(await c.read());
  const r = check(await c.read());
  expect(r.code).toBe(554);
  c.close();
});

test('too many connected clients and the idle timeout: 421 with an enhanced code', async () => {
  const first = await RawSmtp.open(gw.port(1));
  check(await first.read(), true);
  const second = await RawSmtp.open(gw.port(1));
  const busy = check(await second.read());
  expect(busy.code).toBe(421);
  expect(busy.text).toMatch(/^4\.3\.2 /);
  second.close();
  const timeout = check(await first.read(5_000));
  expect(timeout.code).toBe(421);
  expect(timeout.text).toMatch(/^4\.4\.2 /);
  first.close();
});
