// The README's quick start on one machine: config/local.toml as shipped (only its ports and
// data_dir moved so tests can run side by side), `sluice mailbox` as the local MX, a
// message sent to the node arrives in the mailbox; the node's log says what happened once,
// with the message's real size.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { CLI, ROOT, startCli, tempDir } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('config/local.toml delivers to the local mailbox; queued size is the whole message; admin API logged once', async () => {
  const dir = tempDir();
  const [smtp, mbox, admin] = [await freePort(), await freePort(), await freePort()];
  const shipped = readFileSync(join(ROOT, 'config/local.toml'), 'utf8');
  for (const p of ['port = 2525', '"127.0.0.1:2526"', '"127.0.0.1:8925"', 'data_dir = "../data/local"']) expect(shipped).toContain(p);
  const file = join(dir, 'local.toml');
  writeFileSync(file, shipped.replace('port = 2525', `port = ${smtp}`).replace('"127.0.0.1:2526"', `"127.0.0.1:${mbox}"`).replace('"127.0.0.1:8925"', `"127.0.0.1:${admin}"`).replace('data_dir = "../data/local"', 'data_dir = "data"'));

  const box = spawn(process.execPath, [CLI, 'mailbox', '--listen', `127.0.0.1:${mbox}`, '--dir', join(dir, 'mailbox')], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => box.kill('SIGKILL'));
  let boxOut = '';
  box.stdout.on('data', (d) => (boxOut += d));
  box.stderr.on('data', (d) => (boxOut += d));
  await vi.waitUntil(() => boxOut.includes('mailbox listening'), { timeout: 10_000 });

  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');

  const text = message({ subject: 'quick start', body: 'x'.repeat(200) });
  const c = await RawSmtp.open(smtp);
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('app@example.com', ['someone@example.net'], text))?.code).toBe(250);
  await c.cmd('QUIT');
  c.close();

  await vi.waitUntil(() => boxOut.includes('received from'), { timeout: 15_000 });
  expect(boxOut).toMatch(/received from 127\.0\.0\.1 \(EHLO localhost\): <app@example\.com> -> someone@example\.net/);
  const files = readdirSync(join(dir, 'mailbox'));
  expect(files).toHaveLength(1);
  expect(readFileSync(join(dir, 'mailbox', files[0] as string), 'utf8')).toContain('Subject: quick start');

  const queued = node.output().split('\n').find((l) => l.includes('"event":"queued"'));
  expect(JSON.parse(queued ?? '{}').size).toBe(Buffer.byteLength(text));
  expect(node.output().split('admin API listening').length - 1).toBe(1);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
});
