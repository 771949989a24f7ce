// An operator's bounce cut short by kill -9 (issue 17): a node process holds 2 000 deferred
// messages (two recipients each, at two domains: two queue items, one DSN), from 2 000
// senders; `POST /api/queue/bounce` is under way when the node is killed with SIGKILL. After
// a restart (and the bounce repeated for what is still queued, as docs/QUEUE-CONTROL.md
// says), every sender has a DSN naming each of its recipients: at least once, never zero,
// at most twice; the DSN of a message is committed before its recipients are recorded
// bounced, and recovery records those of a DSN committed just before the kill.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir, type CliNode } from '../support/gateway.js';
import { dsnsBySender, startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { waitUntil } from '../support/fleet.js';

const TOKEN = 'bounce-kill-token-0123456789';
const MESSAGES = 2_000;
const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sender = (i: number) => `app${i}@ok.test`;
const rcptsOf = (i: number) => [`u${i}@blocked.test`, `u${i}@blocked2.test`];
const dsnQueued = (node: CliNode) => node.output().split('"event":"dsn_queued"').length - 1;

test('kill -9 in the middle of a bounce: after the restart every sender has its DSN for every bounced recipient', async () => {
  const mx = await startTestMx({ host: '127.0.0.185', rejectRcpt: (rcpt) => (/@blocked2?\.test$/.test(rcpt) ? { code: 451, message: '4.7.0 Try again later' } : null) });
  cleanups.push(() => mx.close());
  const dir = tempDir();
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
data_dir = "${dir}/data"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "${mx.address}"
[sources.s1]
ip = "127.0.0.186"
ehlo = "s1.sluice.test"
[pools.transactional]
sources = ["s1"]
[queue]
retry = ["1h"]
[admin]
listen = "127.0.0.1:${adminPort}"
token = "${TOKEN}"
`);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(20_000) });
    return (await res.json()) as Record<string, unknown>;
  };
  const deferredAt = async (domain: string) => ((await api('GET', '/api/queue?by=domain'))['groups'] as { key: string; recipients: number }[]).find((g) => g.key === domain)?.recipients ?? 0;

  let node = startCli(file);
  cleanups.push(() => void node.child.kill('SIGKILL'));
  await node.waitFor('started');
  await Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      const s = await RawSmtp.open(smtpPort);
      await s.read();
      await s.cmd('EHLO app.test');
      for (let i = c; i < MESSAGES; i += 4) {
        const r = await s.send(sender(i), rcptsOf(i), message({ from: sender(i), to: rcptsOf(i)[0] ?? '', headers: ['X-Campaign-ID: big'] }));
        expect(r?.code).toBe(250);
      }
      s.close();
    }),
  );
  await waitUntil('every recipient deferred once', async () => (await deferredAt('blocked.test')) === MESSAGES && (await deferredAt('blocked2.test')) === MESSAGES, 120_000, 250);

  const answer = await api('POST', '/api/queue/bounce', { selector: { campaign: 'big' } });
  expect(answer).toMatchObject({ action: 'bounce', messages: MESSAGES, recipients: 2 * MESSAGES });
  // Killed once a tenth of the DSNs are queued: the bounce is under way.
  await waitUntil('a tenth of the DSNs queued', () => dsnQueued(node) >= MESSAGES / 10, 60_000, 5);
  node.child.kill('SIGKILL');
  await node.exited();
  const beforeKill = dsnQueued(node);
  console.log(`killed after ${beforeKill} of ${MESSAGES} DSNs were queued`);
  expect(beforeKill).toBeLessThan(MESSAGES);

  node = startCli(file);
  await node.waitFor('started', 60_000);
  const completed = /"event":"queue_bounce_completed"[^\n]*"recipients":(\d+)/.exec(node.output())?.[1] ?? '0';
  const left = (await deferredAt('blocked.test')) + (await deferredAt('blocked2.test'));
  console.log(`after the restart: ${left} recipients still queued, ${completed} recorded bounced at recovery`);
  // Mid-way: some mail was still queued; repeating the bounce ends it.
  expect(left).toBeGreaterThan(0);
  const again = await api('POST', '/api/queue/bounce', { selector: { campaign: 'big' } });
  expect(again['recipients']).toBe(left);
  await waitUntil('the queue empty of bounced mail', async () => (await deferredAt('blocked.test')) + (await deferredAt('blocked2.test')) === 0, 60_000, 250);

  // Every sender: a DSN naming each of its two recipients, at most twice.
  const want = (i: number) => rcptsOf(i).map((r) => r.toLowerCase());
  const complete = () => {
    const got = dsnsBySender(mx);
    return Array.from({ length: MESSAGES }, (_, i) => i).every((i) => want(i).every((r) => (got.get(sender(i)) ?? []).includes(r)));
  };
  await waitUntil('a DSN for every bounced recipient at the sink', complete, 120_000, 500).catch(() => undefined);
  const got = dsnsBySender(mx);
  const missing: string[] = [];
  let twice = 0;
  for (let i = 0; i < MESSAGES; i++) {
    for (const r of want(i)) {
      const n = (got.get(sender(i)) ?? []).filter((x) => x === r).length;
      if (n === 0) missing.push(`${sender(i)} has no DSN for ${r}`);
      if (n === 2) twice++;
      expect(n).toBeLessThanOrEqual(2);
    }
  }
  console.log(`DSNs at the sink: ${mx.messages.filter((m) => m.mailFrom === '').length}; recipients reported twice: ${twice}`);
  expect(missing.slice(0, 10)).toEqual([]);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
}, 300_000);
