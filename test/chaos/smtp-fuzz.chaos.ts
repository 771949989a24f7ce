// SMTP input fuzzing for CHAOS_FUZZ_SECONDS (default 60): sessions built from a small
// grammar of commands, arguments and byte-level damage, sent over raw sockets. Every reply
// line must fit RFC 5321 §4.2's grammar (Reply-code [ SP / "-" textstring ] CRLF, codes
// 2xx–5xx, text of HT and printable ASCII), the node must stay up and answer a new session
// at the end, and its log must hold no uncaught exception or unhandled rejection.
import { connect } from 'node:net';
import { afterAll, expect, test } from 'vitest';
import { tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp } from '../support/smtp-client.js';
import { figures, nodeConfig, sleep, startNode } from './support/chaos.js';

const SECONDS = Number(process.env['CHAOS_FUZZ_SECONDS'] ?? 60);
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));

const addresses = ['app@example.com', '', 'a@[127.0.0.1]', '"quoted local"@example.com', 'x@y', '@bad', 'a'.repeat(300) + '@example.com', 'ünï@exämple.com', 'a@b.c>', '<nested>@x', 'app@example.com\u0000'];
const params = ['', ' SIZE=100', ' SIZE=99999999999', ' BODY=8BITMIME', ' BODY=BINARYMIME', ' SMTPUTF8', ' FOO=BAR', ' RET=HDRS ENVID=x', ' NOTIFY=NEVER', ' SIZE=-1'];

function command(): Buffer {
  const line = pick([
    () => `EHLO ${pick(['app.test', '', '[127.0.0.1]', 'x'.repeat(600), 'a b c'])}`,
    () => `HELO ${pick(['app.test', ''])}`,
    () => `MAIL FROM:<${pick(addresses)}>${pick(params)}`,
    () => `MAIL FROM:${pick(addresses)}`,
    () => `RCPT TO:<${pick(addresses)}>${pick(params)}`,
    () => `RCPT TO:<postmaster>`,
    () => 'DATA',
    () => 'BDAT 10 LAST',
    () => 'RSET',
    () => 'NOOP',
    () => `VRFY ${pick(addresses)}`,
    () => 'EXPN list',
    () => 'HELP',
    () => `AUTH ${pick(['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2', 'BOGUS'])} ${pick(['', 'AGFwcABzZWNyZXQ=', '===', '*'])}`,
    () => 'STARTTLS',
    () => pick(['mail from:<app@example.com>', 'MaIl FrOm:<app@example.com>', 'MAIL  FROM: <app@example.com>']),
    () => 'X'.repeat(pick([10, 513, 1001, 5000])),
    () => '',
  ])();
  const end = pick(['\r\n', '\r\n', '\r\n', '\n', '\r', '\r\n\r\n']);
  const bytes = Buffer.from(line + end, 'utf8');
  return Math.random() < 0.05 ? Buffer.concat([bytes.subarray(0, Math.floor(bytes.length / 2)), junk(8), bytes.subarray(Math.floor(bytes.length / 2))]) : bytes;
}

function body(): Buffer {
  const parts = [Buffer.from('Subject: fuzz\r\n\r\nhello\r\n')];
  for (let i = Math.floor(Math.random() * 6); i > 0; i--) parts.push(pick([Buffer.from('.\r\n'), Buffer.from('..leading dot\r\n'), Buffer.from('bare\nLF\n'), Buffer.from('bare\rCR'), Buffer.from('\r\n.\n'), Buffer.from('\u0000NUL\r\n'), junk(64), Buffer.from('x'.repeat(2000) + '\r\n')]));
  parts.push(Buffer.from(pick(['\r\n.\r\n', '.\r\n', '\n.\n'])));
  return Buffer.concat(parts);
}

const REPLY = /^[2-5][0-5][0-9]([ -][\t\x20-\x7e]*)?$/;

/** One fuzzed session; returns reply lines that break the grammar. */
function session(port: number): Promise<{ replies: number; bad: string[] }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    let replies = 0;
    const bad: string[] = [];
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        replies++;
        if (!REPLY.test(line)) bad.push(JSON.stringify(line.slice(0, 200)));
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ replies, bad }));
    s.on('connect', async () => {
      // Mostly a client that waits for the greeting and for each reply; sometimes an
      // early talker or a pipelining burst.
      const early = Math.random() < 0.05;
      const waitReply = async (ms: number) => {
        const seen = replies;
        for (let t = 0; t < ms && replies === seen && !s.destroyed; t += 5) await sleep(5);
      };
      if (!early) await waitReply(2_000);
      for (let n = Math.floor(Math.random() * 25) + 1; n > 0 && !s.destroyed; n--) {
        s.write(command());
        if (Math.random() < 0.15) s.write(body());
        if (Math.random() < 0.7) await waitReply(300);
      }
      await sleep(200);
      if (Math.random() < 0.5) s.end('QUIT\r\n');
      else s.destroy();
      setTimeout(() => s.destroy(), 2_000).unref();
    });
  });
}

test(`SMTP fuzzing for ${SECONDS} s: replies fit RFC 5321, no crash`, async () => {
  const dir = tempDir('sluice-chaos-fuzz-');
  const mx = await startTestMx({ host: '127.0.0.47' });
  cleanups.push(() => mx.close());
  const port = await freePort();
  const node = startNode(dir, nodeConfig(`${dir}/data`, port, mx.address));
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);
  let exited = false;
  void node.exited().then(() => (exited = true));

  const end = Date.now() + SECONDS * 1000;
  let sessions = 0;
  let replies = 0;
  const bad = new Set<string>();
  while (Date.now() < end && !exited) {
    const batch = await Promise.all(Array.from({ length: 8 }, () => session(port)));
    for (const r of batch) {
      sessions++;
      replies += r.replies;
      for (const b of r.bad) bad.add(b);
    }
  }
  const c = await RawSmtp.open(port);
  const greeting = await c.read();
  c.close();
  const crashes = node.output().split('\n').filter((l) => /uncaught|unhandled/i.test(l));
  figures('smtp-fuzz', { seconds: SECONDS, sessions, replies, bad_replies: [...bad].slice(0, 20), bad_reply_count: bad.size, node_exited: exited, crash_lines: crashes.slice(0, 5) });
  expect(exited).toBe(false);
  expect(greeting?.code).toBe(220);
  expect([...bad]).toEqual([]);
  expect(crashes).toEqual([]);
  node.child.kill('SIGTERM');
  await node.exited();
});
