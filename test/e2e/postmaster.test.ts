// RFC 5321 §4.5.1: <postmaster> (no domain) and postmaster@ each local domain are
// accepted from any client. With [relay] postmaster they go to that address; without
// it they are kept in data_dir/postmaster/ (never bounced, dropped or relayed elsewhere).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';

let mx: TestMx;
let routed: TestGateway;
let kept: TestGateway;

const config = (port: number, postmaster: string) => `
[node]
data_dir = "\${DIR}/data"
hostname = "gw.sluice.test"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
${postmaster}
[dns.static]
"*" = "127.0.0.29:${port}"
[sources.a]
ip = "127.0.0.30"
ehlo = "a.sluice.test"
[pools.transactional]
sources = ["a"]
`;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.29' });
  routed = await startGateway(config(mx.port, 'postmaster = "ops@example.com"'));
  kept = await startGateway(config(mx.port, ''));
});
afterAll(async () => {
  await routed.stop();
  await kept.stop();
  await mx.close();
});

/** A session from 127.0.0.5, which is not in relay.networks. */
async function outsider(gw: TestGateway): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), { localAddress: '127.0.0.5' });
  await c.read();
  await c.cmd('EHLO outside.example');
  return c;
}

test('<postmaster> and postmaster@ a local domain from any client go to [relay] postmaster', async () => {
  const c = await outsider(routed);
  expect((await c.cmd('MAIL FROM:<reporter@outside.example>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<postmaster>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<PostMaster@GW.sluice.test>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<postmaster@a.sluice.test>'))?.code).toBe(250);
  const other = await c.cmd('RCPT TO:<postmaster@elsewhere.example>');
  expect(other?.code).toBe(550);
  expect(other?.text).toMatch(/^5\.7\.1 /);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ from: 'reporter@outside.example', to: 'postmaster', subject: 'abuse report' })}.\r\n`);
  expect((await c.read())?.code).toBe(250);
  c.close();
  await mx.waitUntil((m) => m.messages.some((x) => x.mailFrom === 'reporter@outside.example'));
  const got = mx.messages.filter((x) => x.mailFrom === 'reporter@outside.example');
  expect(got).toHaveLength(1);
  expect(got[0]?.rcpts).toEqual(['ops@example.com']);
});

test('without [relay] postmaster the mail is kept in data_dir/postmaster, durably, and never relayed', async () => {
  const c = await outsider(kept);
  expect((await c.cmd('MAIL FROM:<reporter2@outside.example>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<postmaster>'))?.code).toBe(250);
  const mixed = await c.cmd('RCPT TO:<someone@example.net>');
  expect(mixed?.code).toBe(452);
  expect(mixed?.text).toMatch(/^4\.5\.3 /);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(`${message({ from: 'reporter2@outside.example', to: 'postmaster', subject: 'kept report' })}.\r\n`);
  const r = await c.read();
  expect(r?.code).toBe(250);
  const id = /kept for the postmaster as (\S+)/.exec(r?.text ?? '')?.[1] ?? '';
  c.close();
  const file = join(kept.dir, 'data', 'postmaster', `${id}.eml`);
  expect(existsSync(file)).toBe(true);
  const text = readFileSync(file, 'latin1');
  expect(text).toMatch(/^Return-Path: <reporter2@outside\.example>\r\nX-Original-To: <postmaster>\r\nReceived: from outside\.example /);
  expect(text).toContain('Subject: kept report');
  expect(mx.messages.some((x) => x.mailFrom === 'reporter2@outside.example')).toBe(false);
});
