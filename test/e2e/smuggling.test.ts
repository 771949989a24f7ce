// SMTP smuggling (SEC Consult, December 2023): end-of-data sequences with bare LF, bare CR
// or NUL never end a message here and never reach the next hop; with bare_line_endings =
// "reject" such messages are refused (550 5.5.2); message text sent before the 354 reply
// is refused with 554 5.5.0 and the session closed; a bare LF never splits a command line.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp } from '../support/smtp-client.js';

let mx: TestMx;
let normal: TestGateway;
let strict: TestGateway;

const config = (mode: string, port: number) => `
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
bare_line_endings = "${mode}"
[dns.static]
"*" = "127.0.0.24:${port}"
`;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.24' });
  normal = await startGateway(config('normalize', mx.port));
  strict = await startGateway(config('reject', mx.port));
});
afterAll(async () => {
  await normal.stop();
  await strict.stop();
  await mx.close();
});

/** The end-of-data lookalikes from the research, each followed by a smuggled transaction. */
const VARIANTS: Record<string, string> = {
  'LF.LF': '\n.\n',
  'LF.CRLF': '\n.\r\n',
  'CRLF.LF': '\r\n.\n',
  'CR.CR': '\r.\r',
  'CRLF.CR': '\r\n.\r',
  'CR.CRLF': '\r.\r\n',
  'CRLF NUL .CRLF': '\r\n\x00.\r\n',
  'CRLF.NUL CRLF': '\r\n.\x00\r\n',
};

function smuggle(tag: string, eod: string): string {
  return (
    `From: <app@example.com>\r\nTo: <victim@example.net>\r\nSubject: carrier ${tag}\r\n\r\nfirst part` +
    `${eod}MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n` +
    `From: <admin@example.com>\r\nSubject: SMUGGLED ${tag}\r\n\r\nforged\r\n`
  );
}

async function session(gw: TestGateway): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

describe('normalize (default)', () => {
  Object.entries(VARIANTS).forEach(([name, eod], i) => {
    test(`${name} does not end the message and is not passed on`, async () => {
      const c = await session(normal);
      const rcpt = `n${i}@example.net`;
      const r = await c.send('app@example.com', [rcpt], smuggle(name, eod));
      expect(r?.code).toBe(250);
      // Exactly one reply to the whole DATA: nothing smuggled was run as commands.
      expect((await c.cmd('NOOP'))?.code).toBe(250);
      c.close();
      await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes(rcpt)));
      const got = mx.messages.filter((x) => x.rcpts.includes(rcpt));
      expect(got).toHaveLength(1);
      const raw = (got[0] as { raw: Buffer }).raw;
      expect(raw.toString('latin1')).toContain(`SMUGGLED ${name}`);
      // What reaches the next hop has CRLF line ends only and no NUL.
      expect(/(^|[^\r])\n/.test(raw.toString('latin1'))).toBe(false);
      expect(/\r(?!\n)/.test(raw.toString('latin1'))).toBe(false);
      expect(raw.includes(0)).toBe(false);
      expect(mx.messages.some((x) => x.mailFrom === 'admin@example.com')).toBe(false);
    });
  });
});

describe('reject', () => {
  for (const [name, eod] of Object.entries(VARIANTS)) {
    test(`${name} is refused with 550 5.5.2`, async () => {
      const c = await session(strict);
      const r = await c.send('app@example.com', ['strict@example.net'], smuggle(name, eod));
      expect(r?.code).toBe(550);
      expect(r?.text).toMatch(/^5\.5\.2/);
      c.close();
    });
  }
});

test('message text pipelined before the 354 reply: 554 5.5.0, closed, nothing accepted', async () => {
  const c = await session(normal);
  c.write('MAIL FROM:<app@example.com>\r\nRCPT TO:<early@example.net>\r\nDATA\r\nSubject: early\r\n\r\nbody\r\n.\r\n');
  expect((await c.read())?.code).toBe(250);
  expect((await c.read())?.code).toBe(250);
  const r = await c.read();
  expect(r?.code).toBe(554);
  expect(r?.text).toMatch(/^5\.5\.0/);
  expect(await c.read(3000)).toBeNull();
  await new Promise((res) => setTimeout(res, 300));
  expect(mx.messages.some((x) => x.rcpts.includes('early@example.net'))).toBe(false);
});

test('a bare LF in a command line does not split it into two commands', async () => {
  const c = await session(normal);
  c.write('MAIL FROM:<app@example.com>\nRCPT TO:<split@example.net>\r\n');
  const r = await c.read();
  expect(r?.code).toBe(500);
  expect(r?.text).toMatch(/^5\.5\.2/);
  expect(await c.read(3000)).toBeNull();
});

test('pipelining up to DATA still works', async () => {
  const c = await session(normal);
  c.write('MAIL FROM:<app@example.com>\r\nRCPT TO:<piped@example.net>\r\nDATA\r\n');
  expect((await c.read())?.code).toBe(250);
  expect((await c.read())?.code).toBe(250);
  expect((await c.read())?.code).toBe(354);
  c.write('Subject: piped\r\n\r\nok\r\n.\r\nQUIT\r\n');
  expect((await c.read())?.code).toBe(250);
  expect((await c.read())?.code).toBe(221);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('piped@example.net')));
});

test('each refused attempt is logged as an smtp_violation', async () => {
  const lines: object[] = [];
  const log = normal.node.log as unknown as { warn: (o: object, m?: string) => void };
  const warn = log.warn.bind(log);
  log.warn = (o: object, m?: string) => {
    lines.push(o);
    warn(o, m);
  };
  try {
    const c = await session(normal);
    c.write('MAIL FROM:<app@example.com>\nRCPT TO:<logged@example.net>\r\n');
    await c.read();
    await c.read(3000);
  } finally {
    log.warn = warn;
  }
  expect(lines).toContainEqual(expect.objectContaining({ event: 'smtp_violation', kind: 'bare_lf_command' }));
});
