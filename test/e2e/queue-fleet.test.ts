// Queue control across a fleet (issue 17): three nodes as separate processes on one
// private Redis. The summary asked of one node sums every node's queue; ?node= shows one;
// an action given to one node applies on every live node, each reporting its counts (a
// hold and a lift are asked of the peers by their older names, suspend and resume, which
// nodes of every release know); a node frozen and then killed -9 between the action and
// its report is listed with an error while the others have applied it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startCli, tempDir, type CliNode } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const hasRedis = redisServerPath() !== null;
const TOKEN = 'fleet-queue-token-0123';
let redis: PrivateRedis;
let mx: TestMx;
const nodes: { id: string; cli: CliNode; smtp: number; admin: string }[] = [];

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.74', rejectRcpt: (r) => (r.endsWith('@blocked.test') ? { code: 451, message: '4.7.0 Try again later' } : null) });
  for (const id of ['n1', 'n2', 'n3']) {
    const dir = tempDir();
    const smtp = await freePort();
    const adminPort = await freePort();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, `[node]\nid = "${id}"\ndata_dir = "${dir}/data"\n[cluster]\nredis_url = "${redis.url}"\nheartbeat = "500ms"\nfailover_after = "30s"\n[[listen]]\nhost = "127.0.0.1"\nport = ${smtp}\nmode = "relay"\n[relay]\nnetworks = ["127.0.0.1/32"]\n[dns.static]\n"*" = "${mx.address}"\n[queue]\nretry = ["1h"]\n[admin]\nlisten = "127.0.0.1:${adminPort}"\ntoken = "${TOKEN}"\n`);
    const cli = startCli(file);
    nodes.push({ id, cli, smtp, admin: `http://127.0.0.1:${adminPort}` });
  }
  await Promise.all(nodes.map((n) => n.cli.waitFor('started', 30_000)));
}, 60_000);
afterAll(async () => {
  if (!hasRedis) return;
  for (const n of nodes) n.cli.child.kill('SIGKILL');
  await mx.close();
  await redis.stop();
});

async function api(admin: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return (await res.json()) as Record<string, unknown>;
}

type Group = { key: string; deferred: number; held: number; recipients: number };
const fleetGroup = async (admin: string, query: string, key: string) => ((await api(admin, 'GET', `/api/queue?${query}`))['groups'] as Group[]).find((g) => g.key === key);

test.skipIf(!hasRedis)('the summary sums the fleet; ?node= shows one node', async () => {
  for (const n of nodes) {
    const c = await RawSmtp.open(n.smtp);
    await c.read();
    await c.cmd('EHLO app.test');
    expect((await c.send('app@ok.test', [`${n.id}@blocked.test`], message({ headers: ['X-Campaign-ID: fleet'] })))?.code).toBe(250);
    c.close();
  }
  const first = nodes[0]?.admin as string;
  await expect.poll(async () => (await fleetGroup(first, 'by=campaign', 'fleet'))?.deferred, { timeout: 15_000 }).toBe(3);
  expect(((await api(first, 'GET', '/api/queue?by=campaign'))['nodes'] as string[]).sort()).toEqual(['n1', 'n2', 'n3']);
  const one = await api(first, 'GET', '/api/queue?by=campaign&node=n2');
  expect(one['nodes']).toEqual(['n2']);
  expect((one['groups'] as Group[])[0]).toMatchObject({ key: 'fleet', recipients: 1 });
}, 30_000);

test.skipIf(!hasRedis)('hold and lift apply on every node; the peers are asked by the older names suspend and resume', async () => {
  const sub = new Redis(redis.url);
  const asked: string[] = [];
  sub.on('message', (_channel: string, text: string) => {
    const { ask } = JSON.parse(text) as { ask: { op: string; action?: string } };
    if (ask.op === 'act') asked.push(String(ask.action));
  });
  await sub.subscribe('sluice:queue:ask');
  try {
    const [first, second] = [nodes[0]?.admin as string, nodes[1]?.admin as string];
    const held = await api(first, 'POST', '/api/queue/hold', { selector: { campaign: 'fleet' } });
    expect(held).toMatchObject({ action: 'hold', messages: 3, recipients: 3 });
    expect((held['nodes'] as { node: string; recipients: number }[]).map((n) => [n.node, n.recipients]).sort()).toEqual([['n1', 1], ['n2', 1], ['n3', 1]]);
    expect(await fleetGroup(first, 'by=campaign', 'fleet')).toMatchObject({ held: 3, deferred: 0 });
    expect((await api(second, 'GET', '/api/queue/rules'))['rules']).toMatchObject([{ kind: 'hold', selector: { campaign: 'fleet' } }]);
    const lifted = await api(second, 'POST', '/api/queue/lift', { selector: { campaign: 'fleet' } });
    expect(lifted).toMatchObject({ action: 'lift', recipients: 3 });
    expect(await fleetGroup(first, 'by=campaign', 'fleet')).toMatchObject({ held: 0, deferred: 3 });
    expect((await api(first, 'GET', '/api/queue/rules'))['rules']).toEqual([]);
    expect(asked).toEqual(['suspend', 'resume']);
  } finally {
    sub.disconnect();
  }
}, 30_000);

test.skipIf(!hasRedis)('an action applies on every live node; a node killed before it reports is listed, the others apply it', async () => {
  const dsnsBefore = mx.messages.filter((m) => m.mailFrom === '').length;
  const n3 = nodes[2] as (typeof nodes)[number];
  // Frozen: still in the registry, it cannot act or answer; then killed before it could report.
  n3.cli.child.kill('SIGSTOP');
  const pending = api(nodes[0]?.admin as string, 'POST', '/api/queue/bounce', { selector: { campaign: 'fleet' } });
  await new Promise((r) => setTimeout(r, 500));
  n3.cli.child.kill('SIGKILL');
  const answer = await pending;
  expect(answer).toMatchObject({ action: 'bounce', dry_run: false, messages: 2, recipients: 2 });
  const byNode = Object.fromEntries((answer['nodes'] as { node: string; recipients: number; error?: string }[]).map((n) => [n.node, n]));
  expect(byNode['n1']).toMatchObject({ recipients: 1 });
  expect(byNode['n2']).toMatchObject({ recipients: 1 });
  expect(byNode['n3']?.error).toMatch(/no answer/);
  await mx.waitUntil((m) => m.messages.filter((x) => x.mailFrom === '').length >= dsnsBefore + 2, 15_000);
  expect(await fleetGroup(nodes[1]?.admin as string, 'by=campaign&node=n2', 'fleet')).toBeUndefined();
}, 30_000);
