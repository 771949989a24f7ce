// The queue's own DSNs across kill -9: a node delivers 2 000 messages, each to one
// recipient the MX refuses with 550 5.7.1 and one it takes, from 2 000 senders, and is killed
// with SIGKILL while the refusals come in. After a restart every sender has a DSN naming its
// refused recipient: never zero, at most twice (delivery is at least once), and the
// recipient the MX took is delivered. A DSN is committed before the recipients it reports
// are recorded (Scheduler.final, dsnFirst); recovery records those of a DSN committed just
// before the kill (docs/QUEUE-CONTROL.md).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { dsnsBySender, startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { waitUntil } from '../support/fleet.js';

const TOKEN = 'remote-bounce-kill-token-0123456789';
const MESSAGES = 2_000;
const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sender = (i: number) => `app${i}@ok.test`;
const refused = (i: number) => `u${i}@refused.test`;
const taken = (i: number) => `u${i}@fine.test`;
const dsnQueued = (out: string) => out.split('"event":"dsn_queued"').length - 1;

test('kill -9 while refusals come in: after the restart every sender has its DSN, at most twice', async () => {
  const mx = await startTestMx({ host: '127.0.0.193', rejectRcpt: (rcpt) => (rcpt.endsWith('@refused.test') ? { code: 550, message: '5.7.1 Refused by policy' } : null) });
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
ip = "127.0.0.194"
ehlo = "s1.sluice.test"
[pools.transactional]
sources = ["s1"]
[admin]
listen = "127.0.0.1:${adminPort}"
token = "${TOKEN}"
`);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(20_000) });
    return (await res.json()) as Record<string, unknown>;
  };
  const queued = async () => ((await api('GET', '/api/queue?by=domain'))['groups'] as { recipients: number }[]).reduce((n, g) => n + g.recipients, 0);

  let node = startCli(file);
  cleanups.push(() => void node.child.kill('SIGKILL'));
  await node.waitFor('started');
  // Held while they are accepted, so that the kill comes while the refusals stream in.
  expect(await api('POST', '/api/queue/hold', { selector: { class: 'transactional' }, duration: '10m' })).toMatchObject({ action: 'hold' });
  await Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      const s = await RawSmtp.open(smtpPort);
      await s.read();
      await s.cmd('EHLO app.test');
      for (let i = c; i < MESSAGES; i += 4) {
        const r = await s.send(sender(i), [refused(i), taken(i)], message({ from: sender(i), to: refused(i) }));
        expect(r?.code).toBe(250);
      }
      s.close();
    }),
  );
  expect(await queued()).toBe(2 * MESSAGES);
  expect(mx.messages).toHaveLength(0);
  await api('POST', '/api/queue/lift', { selector: { class: 'transactional' } });
  await waitUntil('a tenth of the DSNs queued', () => dsnQueued(node.output()) >= MESSAGES / 10, 60_000, 5);
  node.child.kill('SIGKILL');
  await node.exited();
  const beforeKill = dsnQueued(node.output());
  console.log(`killed after ${beforeKill} of ${MESSAGES} DSNs were queued`);
  expect(beforeKill).toBeLessThan(MESSAGES);

  node = startCli(file);
  await node.waitFor('started', 60_000);
  const completed = /"event":"queue_bounce_completed"[^\n]*"recipients":(\d+)/.exec(node.output())?.[1] ?? '0';
  console.log(`after the restart: ${completed} recipients recorded at recovery from DSNs committed before the kill`);
  await waitUntil('the queue empty', async () => (await queued()) === 0, 120_000, 250);

  const want = (i: number) => refused(i).toLowerCase();
  const complete = () => {
    const got = dsnsBySender(mx);
    return Array.from({ length: MESSAGES }, (_, i) => i).every((i) => (got.get(sender(i)) ?? []).includes(want(i)));
  };
  await waitUntil('a DSN for every refused recipient at the MX', complete, 120_000, 500).catch(() => undefined);
  const got = dsnsBySender(mx);
  const missing: string[] = [];
  let twice = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const n = (got.get(sender(i)) ?? []).filter((x) => x === want(i)).length;
    if (n === 0) missing.push(`${sender(i)} has no DSN for ${want(i)}`);
    if (n === 2) twice++;
    expect(n).toBeLessThanOrEqual(2);
  }
  const delivered = new Set(mx.messages.filter((m) => m.mailFrom !== '').flatMap((m) => m.rcpts.map((r) => r.toLowerCase())));
  console.log(`DSNs at the MX: ${mx.messages.filter((m) => m.mailFrom === '').length}; refused recipients reported twice: ${twice}`);
  expect(missing.slice(0, 10)).toEqual([]);
  expect(Array.from({ length: MESSAGES }, (_, i) => taken(i)).filter((r) => !delivered.has(r)).slice(0, 10)).toEqual([]);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
}, 300_000);
