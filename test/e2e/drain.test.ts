// Maintenance drain (`sluice drain` and POST /api/drain): the node refuses new sessions
// and transactions with 421 4.3.2, /readyz says "draining", deferred mail is retried at
// once, `--wait` returns when the queue is empty (exit 1 when it is not in time), and
// `--cancel` makes the node accept mail again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { sluice } from '../plugin-host/harness.js';

const TOKEN = 'drain-token-0123456789';
let mx: TestMx;
let gw: TestGateway;
let admin: string;

beforeAll(async () => {
  const mxPort = await freePort('127.0.0.46');
  mx = await startTestMx({ host: '127.0.0.46', port: mxPort });
  await mx.down();
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(
    relayConfig(
      { mx: `127.0.0.46:${mxPort}`, admin: { port, token: TOKEN } },
      `[delivery]
connect_timeout = "1s"
[queue]
retry = ["1h"]
`,
    ),
  );
});
afterAll(async () => {
  await gw.stop();
  await mx.close();
});

async function connect(): Promise<{ c: RawSmtp; greeting: string }> {
  const c = await RawSmtp.open(gw.port());
  const g = await c.read();
  return { c, greeting: `${g?.code} ${g?.text}` };
}

async function send(rcpt: string): Promise<void> {
  const { c } = await connect();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@example.com', [rcpt], message()))?.code).toBe(250);
  c.close();
}

const deferred = () => gw.node.scheduler.waitingItems().length;

test('drain refuses new mail, delivers the queue, and cancel takes mail again', async () => {
  await send('queued@example.net');
  await expect.poll(deferred, { timeout: 10_000 }).toBe(1);
  // A session opened before the drain may not start a new transaction after it.
  const { c: early } = await connect();
  await early.cmd('EHLO app.test');

  await mx.up();
  const drained = await sluice(['drain', '--config', gw.configFile, '--wait', '20s']);
  expect(drained.stderr).toBe('');
  expect(drained.stdout).toMatch(/^draining since \S+: refusing new mail; 1 deferred items retried now, 1 messages queued\n/);
  expect(drained.stdout).toContain('queue empty: the node can be stopped');
  expect(drained.code).toBe(0);
  expect(mx.messages.map((m) => m.rcpts)).toEqual([['queued@example.net']]);

  const mail = await early.cmd('MAIL FROM:<app@example.com>');
  expect(`${mail?.code} ${mail?.text}`).toBe('421 4.3.2 Node draining for maintenance, try another node');
  early.close();
  const { c: late, greeting } = await connect();
  expect(greeting).toBe('421 4.3.2 Node draining for maintenance, try another node');
  late.close();
  const ready = await fetch(`${admin}/readyz`);
  expect(ready.status).toBe(503);
  expect(((await ready.json()) as { reasons: string[] }).reasons).toContain('draining');
  const status = (await (await fetch(`${admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { draining: boolean; queued_here: number };
  expect(status).toMatchObject({ draining: true, queued_here: 0 });

  const cancelled = await sluice(['drain', '--config', gw.configFile, '--cancel']);
  expect(cancelled).toMatchObject({ code: 0, stdout: 'drain ended: accepting mail again (0 messages queued)\n' });
  const again = await connect();
  expect(again.greeting).toMatch(/^220 /);
  again.c.close();
  expect((await fetch(`${admin}/readyz`)).status).toBe(200);
});

test('--wait exits 1 and says so when mail is still queued at the deadline', async () => {
  await mx.down();
  await send('stuck@example.net');
  await expect.poll(deferred, { timeout: 10_000 }).toBe(1);
  const r = await sluice(['drain', '--config', gw.configFile, '--wait', '2s']);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain("still 1 messages queued after 2s: they stay in this node's spool");
  expect((await sluice(['drain', '--config', gw.configFile, '--cancel'])).code).toBe(0);
  await mx.up();
});

test('drain without an [admin] table, or with a node that is not running, says what is wrong', async () => {
  const bare = join(gw.dir, 'bare.toml');
  writeFileSync(bare, '[[listen]]\nhost = "127.0.0.1"\nport = 2525\nmode = "relay"\n');
  const r = await sluice(['drain', '--config', bare]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('no [admin] table: drain talks to the node through its admin API');
  const dead = join(gw.dir, 'dead.toml');
  writeFileSync(dead, `[[listen]]\nhost = "127.0.0.1"\nport = 2525\nmode = "relay"\n[admin]\nlisten = "127.0.0.1:${await freePort()}"\ntoken = "${TOKEN}"\n`);
  const d = await sluice(['drain', '--config', dead]);
  expect(d.code).toBe(1);
  expect(d.stderr).toMatch(/cannot reach the node's admin API at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.* \(is the node running with this config\?\)/);
});
