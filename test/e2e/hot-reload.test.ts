// Hot reload: SIGHUP applies a valid config without dropping an open session or queued
// mail; an invalid one is refused with its errors and the running config stays.
import { readFileSync, writeFileSync } from 'node:fs';
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

test('SIGHUP reloads relay networks and sources; a broken config is refused', async () => {
  const dir = tempDir();
  const mxPort = await freePort('127.0.0.37');
  const mx = await startTestMx({ host: '127.0.0.37', port: mxPort });
  cleanups.push(() => mx.close());
  const smtpPort = await freePort();
  const file = join(dir, 'sluice.toml');
  const config = (networks: string, ehlo: string) => `
[node]
data_dir = "${dir}/data"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[relay]
networks = [${networks}]
[dns.static]
"*" = "127.0.0.37:${mxPort}"
[sources.a]
ip = "127.0.0.38"
ehlo = "${ehlo}"
[pools.transactional]
sources = ["a"]
`;
  writeFileSync(file, config('"127.0.0.1/32"', 'before.sluice.test'));
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');

  // A session open across the reload keeps working.
  const held = await RawSmtp.open(smtpPort);
  await held.read();
  await held.cmd('EHLO app.test');
  const outsider = async () => {
    const c = await RawSmtp.open(smtpPort, { localAddress: '127.0.0.9' });
    await c.read();
    await c.cmd('EHLO x.test');
    await c.cmd('MAIL FROM:<a@example.com>');
    const r = await c.cmd('RCPT TO:<b@example.net>');
    c.close();
    return r?.code;
  };
  expect(await outsider()).toBe(550);

  writeFileSync(file, config('"127.0.0.1/32", "127.0.0.9/32"', 'after.sluice.test'));
  node.child.kill('SIGHUP');
  await node.waitFor('config_reloaded');
  expect(node.output()).toMatch(/"changes":\["relay changed","sources\.a changed"\]/);
  expect(await outsider()).toBe(250);
  expect((await held.send('app@example.com', ['kept@example.net'], message()))?.code).toBe(250);
  held.close();
  const [m] = await mx.waitFor(1);
  expect(m?.helo).toBe('after.sluice.test');

  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('[relay]', '[relay]\nmax_recipents = 5'));
  node.child.kill('SIGHUP');
  await node.waitFor('config_reload_refused');
  expect(node.output()).toContain('relay.max_recipents: unknown key (did you mean \\"max_recipients\\"?)');
  expect(await outsider()).toBe(250);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
});
