// Hot reload: SIGHUP applies a valid config without dropping an open session or queued
// mail; an invalid one is refused with its errors and the running config stays.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
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

// A reload is a fresh start for every key it does not list under restart_needed: the judge
// is the source address the test MX saw each message come from, not the node's own view.
// Sessions the old config opened (idle for delivery.idle_timeout) must not carry new mail.
test('a reload applies added sources, pools, header routes, changed pool members and MX routes to the next message', async () => {
  const dir = tempDir();
  const mx = await startTestMx({ host: '127.0.0.60' });
  const mx2 = await startTestMx({ host: '127.0.0.61' });
  cleanups.push(() => mx.close(), () => mx2.close());
  const smtpPort = await freePort();
  const adminPort = await freePort();
  const token = 'reload-token-0123456789';
  const file = join(dir, 'sluice.toml');
  const base = (mxAddress: string, txSources: string, extra: string) => `
[node]
data_dir = "${dir}/data"
[[listen]]
host = "127.0.0.1"
port = ${smtpPort}
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[admin]
listen = "127.0.0.1:${adminPort}"
token = "${token}"
[delivery]
idle_timeout = "30s"
[dns.static]
"*" = "${mxAddress}"
[sources.tx]
ip = "127.0.0.62"
ehlo = "tx.sluice.test"
[pools.transactional]
sources = [${txSources}]
${extra}`;
  const promo = `
[sources.promo1]
ip = "127.0.0.63"
ehlo = "promo1.sluice.test"
[pools.promotional]
sources = ["promo1"]
[[routes]]
header = { "X-Campaign-ID" = "promo-*" }
pool = "promotional"
`;
  writeFileSync(file, base(mx.address, '"tx"', ''));
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');

  const send = async (subject: string, headers: string[] = []) => {
    const c = await RawSmtp.open(smtpPort);
    await c.read();
    await c.cmd('EHLO app.test');
    const r = await c.send('app@example.com', ['user@example.net'], message({ subject, headers }));
    await c.cmd('QUIT');
    c.close();
    expect(r?.code).toBe(250);
  };
  const peerOf = async (target: typeof mx, subject: string) => {
    await target.waitUntil((m) => m.messages.some((x) => x.raw.toString().includes(`Subject: ${subject}\r\n`)), 15_000);
    return target.messages.find((x) => x.raw.toString().includes(`Subject: ${subject}\r\n`))?.peerIp;
  };
  const reloads = () => node.output().split('"event":"config_reloaded"').length - 1;
  const sighup = async () => {
    const before = reloads();
    node.child.kill('SIGHUP');
    await vi.waitUntil(() => reloads() > before, { timeout: 10_000, interval: 50 });
  };
  const adminReload = async () => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { changes: string[] };
  };

  // Before: one pool; the session to the MX stays open (idle_timeout 30 s) after this one.
  await send('first', ['X-Campaign-ID: promo-7']);
  expect(await peerOf(mx, 'first')).toBe('127.0.0.62');

  // SIGHUP: a new source, a new pool and a header route naming a header no route read before.
  writeFileSync(file, base(mx.address, '"tx"', promo));
  await sighup();
  expect(node.output()).toContain('"restart_needed":[]');
  await send('promo after sighup', ['X-Campaign-ID: promo-8']);
  await send('plain after sighup');
  expect(await peerOf(mx, 'promo after sighup')).toBe('127.0.0.63');
  expect(await peerOf(mx, 'plain after sighup')).toBe('127.0.0.62');

  // Admin reload: the transactional pool's members change, a second header route, and
  // every domain's MX moves ([dns.static]).
  const moved = `${promo}
[sources.tx2]
ip = "127.0.0.64"
ehlo = "tx2.sluice.test"
[[routes]]
header = { "X-Stream" = "bulk" }
pool = "promotional"
`;
  writeFileSync(file, base(mx2.address, '"tx2"', moved));
  const result = await adminReload();
  expect(result.changes).toEqual(expect.arrayContaining(['sources.tx2 added', 'pools.transactional changed', 'routes changed', 'dns changed']));
  await send('plain after admin reload');
  await send('bulk after admin reload', ['X-Stream: bulk']);
  expect(await peerOf(mx2, 'plain after admin reload')).toBe('127.0.0.64');
  expect(await peerOf(mx2, 'bulk after admin reload')).toBe('127.0.0.63');
  // Nothing sent after the reload reached the old MX.
  expect(mx.messages.map((m) => m.raw.toString()).filter((r) => r.includes('after admin reload'))).toEqual([]);

  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
});
