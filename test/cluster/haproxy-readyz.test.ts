// config/haproxy.cfg as shipped (addresses and ports moved to loopback): it validates, and
// HAProxy in front of three nodes sends sessions to every node with the PROXY header, stops
// sending to a node that drains (/readyz 503) or dies (kill -9), and takes it back when it
// is ready again.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ROOT, tempDir } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startFleet, waitUntil, type Fleet, type FleetNode } from '../support/fleet.js';
import { RawSmtp } from '../support/smtp-client.js';

const SHIPPED = join(ROOT, 'config/haproxy.cfg');
let fleet: Fleet;
let haproxy: ChildProcess | null = null;
let front = 0;

beforeAll(async () => {
  fleet = await startFleet({
    nodes: 3,
    extraPorts: 1,
    shared: '[dns.static]\n"*" = "127.0.0.9:9"\n',
    // The PROXY listener the balancer sends to, beside the harness's plain one.
    perNode: (n) => `[[listen]]\nhost = "127.0.0.1"\nport = ${n.ports.extra[0]}\nmode = "relay"\nproxy = true\n`,
  });
  front = await freePort();
  let cfg = readFileSync(SHIPPED, 'utf8').replace('bind :25', `bind 127.0.0.1:${front}`);
  for (const n of fleet.nodes) cfg = cfg.replace(`10.0.0.1${n.index + 1}:2525 send-proxy check port 8025`, `127.0.0.1:${n.ports.extra[0]} send-proxy check port ${n.ports.admin}`);
  const file = join(tempDir('sluice-haproxy-'), 'haproxy.cfg');
  writeFileSync(file, cfg);
  haproxy = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
  await waitUntil('HAProxy to listen', async () => (await RawSmtp.open(front).then((c) => (c.close(), true))), 10_000, 100);
}, 150_000);
afterAll(async () => {
  haproxy?.kill('SIGKILL');
  await fleet?.stop();
});

/** The node that answers a new session through the balancer (its hostname is in the 220 greeting). */
async function greeter(): Promise<string> {
  const c = await RawSmtp.open(front);
  const banner = await c.read();
  c.close();
  // A draining node answers 421 4.3.2 without its name.
  if (banner?.code === 421) return 'refused';
  return /^(n\d)\.fleet\.test/.exec(banner?.text ?? '')?.[1] ?? `? ${banner?.code} ${banner?.text}`;
}

async function greeters(sessions: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < sessions; i++) seen.add(await greeter());
  return seen;
}

test('the shipped config validates', () => {
  const r = spawnSync('haproxy', ['-c', '-f', SHIPPED], { encoding: 'utf8' });
  expect(r.status, r.stdout + r.stderr).toBe(0);
});

test('HAProxy follows /readyz: a draining or dead node gets no new sessions, a ready one gets them back', async () => {
  const [n1, n2] = fleet.nodes as [FleetNode, FleetNode, FleetNode];
  await waitUntil('sessions on all three nodes through HAProxy', async () => (await greeters(6)).size === 3, 20_000, 200);

  expect((await n1.api('/api/drain', { method: 'POST' })).status).toBe(200);
  await waitUntil('HAProxy to stop sending to n1', async () => {
    const seen = await greeters(6);
    return !seen.has('n1') && !seen.has('refused');
  }, 10_000, 200);
  expect(await greeters(9)).toEqual(new Set(['n2', 'n3']));

  await n2.kill9();
  await waitUntil('HAProxy to stop sending to n2', async () => {
    try {
      return (await greeters(6)).size === 1;
    } catch {
      return false; // a session to n2 before its check failed twice: refused, retried elsewhere or not
    }
  }, 10_000, 200);
  expect(await greeters(6)).toEqual(new Set(['n3']));

  expect((await n1.api('/api/drain/cancel', { method: 'POST' })).status).toBe(200);
  await waitUntil('HAProxy to send to n1 again', async () => (await greeters(6)).has('n1'), 10_000, 200);
});
