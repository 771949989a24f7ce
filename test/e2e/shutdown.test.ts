// SIGTERM: new sessions get 421 4.3.2, a transaction in flight completes, the node exits 0,
// and mail it could not deliver yet stays spooled for the next start.
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('SIGTERM drains: in-flight DATA finishes, then exit 0 with the queue kept', async () => {
  const dir = tempDir();
  const mxPort = await freePort('127.0.0.27');
  const smtpPort = await freePort();
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
data_dir = "${dir}/data"
drain_timeout = "5s"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[dns.static]
"*" = "127.0.0.27:${mxPort}"
[queue]
# An attempt made before the stop keeps its retry time across the restart.
retry = ["2s"]
`);
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  // The MX is down: the message stays queued.
  const c = await RawSmtp.open(smtpPort);
  await c.read();
  await c.cmd('EHLO app.test');
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<kept@example.net>');
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(message().slice(0, 40));
  node.child.kill('SIGTERM');
  await node.waitFor('stopping');
  c.write(`${message().slice(40)}.\r\n`);
  const r = await c.read();
  expect(r?.code).toBe(250);
  c.close();
  expect(await node.exited()).toBe(0);
  // The next start finds it and delivers it.
  const mx = await startTestMx({ host: '127.0.0.27', port: mxPort });
  cleanups.push(() => mx.close());
  const again = startCli(file);
  cleanups.push(() => again.child.kill('SIGKILL'));
  await again.waitFor('spool_recovered');
  const [m] = await mx.waitFor(1, 15_000);
  expect(m?.rcpts).toEqual(['kept@example.net']);
  again.child.kill('SIGTERM');
  await again.exited();
});

test('new sessions during shutdown get 421 4.3.2', async () => {
  const dir = tempDir();
  const smtpPort = await freePort();
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
data_dir = "${dir}/data"
drain_timeout = "3s"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
`);
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  // Hold a transaction open so the listener stays up while draining.
  const holder = await RawSmtp.open(smtpPort);
  await holder.read();
  await holder.cmd('EHLO app.test');
  await holder.cmd('MAIL FROM:<app@example.com>');
  await holder.cmd('RCPT TO:<x@example.net>');
  await holder.cmd('DATA');
  node.child.kill('SIGTERM');
  await node.waitFor('stopping');
  // The listener stays bound while it drains, so a new client hears why it cannot stay.
  const late = await RawSmtp.open(smtpPort);
  const greet = await late.read();
  expect(greet?.code).toBe(421);
  expect(greet?.text).toMatch(/4\.3\.2/);
  late.close();
  holder.close();
  expect(await node.exited()).toBe(0);
});

// What systemd's TimeoutStopSec and a container's stop timeout are sized from: the whole
// drain takes drain_timeout, not one drain_timeout per stage. An app's pooled session left
// open between transactions does not hold the stop (smtp-server alone would wait its
// closeTimeout for it), and a delivery that hangs is given up at the same deadline: its
// message stays spooled and the next start delivers it.
test('SIGTERM ends within one drain_timeout with an idle session and a delivery hanging', async () => {
  const dir = tempDir();
  const mxPort = await freePort('127.0.0.28');
  const smtpPort = await freePort();
  // An MX that accepts the connection and never greets: the delivery stays in flight.
  const sockets: Socket[] = [];
  let connected!: () => void;
  const inFlight = new Promise<void>((r) => (connected = r));
  const silent = createServer((s) => {
    sockets.push(s);
    connected();
  });
  await new Promise<void>((r) => silent.listen(mxPort, '127.0.0.28', r));
  cleanups.push(() => (sockets.forEach((s) => s.destroy()), silent.close()));
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
data_dir = "${dir}/data"
drain_timeout = "4s"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[dns.static]
"*" = "127.0.0.28:${mxPort}"
`);
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  const c = await RawSmtp.open(smtpPort);
  await c.read();
  await c.cmd('EHLO app.test');
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<hangs@example.net>');
  expect((await c.cmd('DATA'))?.code).toBe(354);
  expect((await c.cmd(`${message({ to: 'hangs@example.net' })}.`))?.code).toBe(250);
  await inFlight;
  // The app keeps its session open, as a pooled SMTP client does.
  const t0 = Date.now();
  node.child.kill('SIGTERM');
  const bye = await c.read();
  expect(bye?.code).toBe(421);
  expect(bye?.text).toBe('4.3.2 Service shutting down, try again later');
  expect(Date.now() - t0).toBeLessThan(1_500);
  expect(await node.exited()).toBe(0);
  const took = Date.now() - t0;
  expect(took).toBeGreaterThanOrEqual(3_500); // it did wait for the delivery…
  expect(took).toBeLessThan(6_500); // …for one drain_timeout, not one per stage (4 s + 4 s before)
  sockets.forEach((s) => s.destroy());
  silent.close();
  const mx = await startTestMx({ host: '127.0.0.28', port: mxPort });
  cleanups.push(() => mx.close());
  const again = startCli(file);
  cleanups.push(() => again.child.kill('SIGKILL'));
  const [m] = await mx.waitFor(1, 20_000);
  expect(m?.rcpts).toEqual(['hangs@example.net']);
  again.child.kill('SIGTERM');
  await again.exited();
});
