/**
 * Versioned config rollout: `sluice config push` publishes a validated config to Redis;
 * three nodes (separate processes, one private Redis, `[cluster] config = "redis"`) apply
 * each version, show it in /api/status and sluice_config_version; a version that does not
 * load on one node (a file it names is missing there) leaves that node on the last good
 * version with the error in its status and sluice_config_rollout_failures_total, while the
 * others move on; `config rollback N` publishes version N's files again. Each node's
 * dashboard shows the version it runs and the one it refused. A node that restarts while
 * the newest version does not load on it starts on the newest that does (never its own
 * file's pools), the refusal names the pushed file and line, and SIGHUP, once the node
 * has what it lacked, moves it to the newest. Every node's status and dashboard list every
 * node's version and the one it refused (from the heartbeats); a node on which no pushed
 * version loads runs its own file (version 0) and says so.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startCli, tempDir, type CliNode } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const run = promisify(execFile);
const TOKEN = 'rollout-test-token';
const hasRedis = redisServerPath() !== null;

interface Node { id: string; admin: number; file: string; proc: CliNode }
let redis: PrivateRedis;
const nodes: Node[] = [];
const pushDir = tempDir('sluice-push-');

interface NodeRow { id: string; self: boolean; config_version: number | null; config_failed: number | null }
async function status(n: Node): Promise<{ config: { source: string; version: number | null; failed: { version: number; errors: string[] } | null; latest: number | null }; nodes: NodeRow[]; pools: { name: string; sources: string[] }[] }> {
  const r = await fetch(`http://127.0.0.1:${n.admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await r.json()) as never;
}

async function metric(n: Node, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${n.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const line = text.split('\n').find((l) => new RegExp(`^${name}(\\{[^}]*\\})? `).test(l));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await f();
  while (!ok(v)) {
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
    v = await f();
  }
  return v;
}

async function cli(...args: string[]): Promise<string> {
  return cliAs(...args, '--redis', redis.url);
}

async function cliAs(...args: string[]): Promise<string> {
  const r = await run(process.execPath, [CLI, 'config', ...args]);
  return r.stdout;
}

const CHROMIUM = '/usr/bin/chromium';

/**
 * The fleet's config in two files: the main one includes pools.toml, which holds one
 * source and pool named `pool`; with `tokenFile`, `token_file` is read on each node.
 */
function writeFleet(pool: string, tokenFile = false): string {
  const main = join(pushDir, 'sluice.toml');
  writeFileSync(main, ['include = ["pools.toml"]', '[node]', 'id = "pusher"', '[dns.static]', '"*" = "127.0.0.1:9"', ...(tokenFile ? ['[admin]', 'token_file = "admin.token"'] : [])].join('\n'));
  writeFileSync(join(pushDir, 'pools.toml'), [`[sources.${pool}-src]`, 'ip = "127.0.0.2"', `ehlo = "${pool}.sluice.test"`, `[pools.${pool}]`, `sources = ["${pool}-src"]`].join('\n'));
  return main;
}

describe.skipIf(!hasRedis)('config rollout through Redis, three nodes', () => {
  beforeAll(async () => {
    redis = await startRedis();
    for (const id of ['r1', 'r2', 'r3']) {
      const dir = tempDir(`sluice-${id}-`);
      const admin = await freePort();
      const file = join(dir, 'sluice.toml');
      writeFileSync(file, ['[node]', `id = "${id}"`, 'data_dir = "data"', '[cluster]', `redis_url = "${redis.url}"`, 'config = "redis"', '[[listen]]', 'host = "127.0.0.1"', 'port = 0', 'mode = "relay"', '[admin]', `listen = "127.0.0.1:${admin}"`, `token = "${TOKEN}"`].join('\n'));
      // r3 lacks the file version 2 names.
      if (id !== 'r3') writeFileSync(join(dir, 'admin.token'), 'x'.repeat(20));
      const proc = startCli(file);
      nodes.push({ id, admin, file, proc });
    }
    await Promise.all(nodes.map((n) => n.proc.waitFor('started')));
    mkdirSync(pushDir, { recursive: true });
    writeFileSync(join(pushDir, 'admin.token'), 'x'.repeat(20));
  }, 60_000);

  afterAll(async () => {
    for (const n of nodes) n.proc.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.proc.exited()));
    await redis?.stop();
  });

  it('applies pushed versions, keeps the last good one where a version does not load, and rolls back', async () => {
    for (const n of nodes) expect((await status(n)).config).toEqual({ source: 'redis', version: 0, failed: null, latest: 0 });

    expect(await cli('push', '--config', writeFleet('blue'), '--note', 'blue pool')).toBe('published config version 1 (sluice.toml, pools.toml)\n');
    for (const n of nodes) {
      const s = await until(`${n.id} on version 1`, () => status(n), (s) => s.config.version === 1);
      expect(s.pools.map((p) => p.name)).toEqual(['blue']);
      expect(await metric(n, 'sluice_config_version')).toBe(1);
    }

    // A config whose include is invalid is refused before it reaches Redis, with file and key.
    writeFleet('red');
    writeFileSync(join(pushDir, 'pools.toml'), '[pools.x]\nsources = ["nope"]\n');
    const refused = await cli('push', '--config', join(pushDir, 'sluice.toml')).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining(`${join(pushDir, 'pools.toml')}:2 pools.x.sources[0]`) });
    expect((refused as { stderr: string }).stderr).toContain('nope');

    // Version 2 names admin.token, which r3 does not have.
    expect(await cli('push', '--config', writeFleet('green', true))).toContain('published config version 2');
    for (const n of nodes.slice(0, 2)) expect((await until(`${n.id} on version 2`, () => status(n), (s) => s.config.version === 2)).pools.map((p) => p.name)).toEqual(['green']);
    const r3 = nodes[2] as Node;
    const s3 = await until('r3 refusing version 2', () => status(r3), (s) => s.config.failed !== null);
    expect(s3.config.version).toBe(1);
    expect(s3.config.failed?.version).toBe(2);
    expect(s3.config.failed?.errors.join(' ')).toContain('admin.token_file');
    expect(s3.pools.map((p) => p.name)).toEqual(['blue']);
    expect(await metric(r3, 'sluice_config_rollout_failures_total')).toBe(1);
    await until('the refusal in r3\'s log', async () => r3.proc.output(), (out) => out.includes('"event":"config_version_refused"'));

    // Every node's status lists every node's version, from the heartbeats: r1 sees r3 on 1, refusing 2.
    const r1 = nodes[0] as Node;
    const versions = (s: { nodes: NodeRow[] }) => JSON.stringify(s.nodes.map((x) => [x.id, x.config_version, x.config_failed]));
    const fleet = await until('r1 seeing r3 refuse version 2', () => status(r1), (s) => versions(s) === JSON.stringify([['r1', 2, null], ['r2', 2, null], ['r3', 1, 2]]));
    expect(fleet.config.latest).toBe(2);

    const history = await cli('history');
    expect(history.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['1', '2']);
    expect(history).toContain('blue pool');
    // Redis and its key prefix from a node's own file ([cluster]); another prefix is another fleet.
    expect(await cliAs('history', '--config', nodes[0]!.file)).toBe(history);
    expect(await cli('history', '--prefix', 'other:')).toBe('no config versions published\n');

    // Each node's dashboard shows the version it runs; r3's also the one it refused, with why.
    if (existsSync(CHROMIUM)) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
      try {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${r3.admin}/?token=${TOKEN}`);
        await page.waitForSelector('#nodes li .tag');
        const own = page.locator('#nodes li', { hasText: 'this node' });
        expect(await own.locator('.title').innerText()).toMatch(/^r3/);
        expect(await own.locator('.tag').allInnerTexts()).toEqual(['this node', 'config v1', 'config v2 refused']);
        expect(await own.locator('.tag', { hasText: 'config v2 refused' }).getAttribute('title')).toContain('admin.token_file');
        await page.goto(`http://127.0.0.1:${nodes[0]!.admin}/?token=${TOKEN}`);
        await page.waitForSelector('#nodes li .tag');
        const mine = page.locator('#nodes li', { hasText: 'this node' });
        expect(await mine.locator('.title').innerText()).toMatch(/^r1/);
        expect(await mine.locator('.tag').allInnerTexts()).toEqual(['this node', 'config v2']);
        // r1's panel has every node's version: r3's is marked (behind the newest, v2 refused there).
        await page.waitForSelector('[data-config-failed="r3"]');
        expect(await page.locator('[data-config="r2"]').getAttribute('class')).toBe('tag');
        expect(await page.locator('[data-config="r3"]').innerText()).toBe('config v1');
        expect(await page.locator('[data-config="r3"]').getAttribute('class')).toContain('pct-warn');
        expect(await page.locator('[data-config-failed="r3"]').innerText()).toBe('config v2 refused');
        expect(await page.locator('[data-config-failed="r3"]').getAttribute('title')).toContain('/api/status on r3');
      } finally {
        await browser.close();
      }
    }

    expect(await cli('rollback', '1')).toContain('published config version 3: the files of version 1');
    for (const n of nodes) {
      const s = await until(`${n.id} on version 3`, () => status(n), (s) => s.config.version === 3);
      expect(s.pools.map((p) => p.name)).toEqual(['blue']);
      expect(s.config.failed).toBeNull();
    }

    // SIGHUP re-applies the version running, not the node's own file (which has no pools).
    r1.proc.child.kill('SIGHUP');
    await until('r1 reloaded on SIGHUP', async () => r1.proc.output(), (out) => /"event":"config_reloaded","by":"SIGHUP"/.test(out));
    expect((await status(r1)).config.version).toBe(3);
    expect((await status(r1)).pools.map((p) => p.name)).toEqual(['blue']);

    // A node that starts again runs the latest version from its start.
    r3.proc.child.kill('SIGTERM');
    expect(await r3.proc.exited()).toBe(0);
    r3.proc = startCli(r3.file);
    await r3.proc.waitFor('started');
    const again = await status(r3);
    expect(again.config).toEqual({ source: 'redis', version: 3, failed: null, latest: 3 });
    // Applied before its listeners opened: no mail was routed by its own file first.
    const log = r3.proc.output();
    expect(log.indexOf('"event":"config_version_applied"')).toBeGreaterThan(-1);
    expect(log.indexOf('"event":"config_version_applied"')).toBeLessThan(log.indexOf('"event":"listening"'));
    expect(again.pools.map((p) => p.name)).toEqual(['blue']);
  }, 90_000);

  // Goes on from the state the test above leaves: every node on version 3 (blue).
  it('a node that starts while the newest version does not apply on it runs the newest that does; the error names the pushed file', async () => {
    const r3 = nodes[2] as Node;
    const main = writeFleet('green', true);
    expect(await cli('push', '--config', main)).toContain('published config version 4');
    const refused = await until('r3 refusing version 4', () => status(r3), (s) => s.config.failed?.version === 4);
    // The pushed file's line, under the version's name: not the node's own file, whose line 7 is something else.
    const line = readFileSync(main, 'utf8').split('\n').indexOf('token_file = "admin.token"') + 1;
    expect(refused.config.failed?.errors).toEqual([expect.stringMatching(new RegExp(`^config version 4 \\(pushed from ${main}\\):${line} admin\\.token_file: `))]);

    r3.proc.child.kill('SIGTERM');
    expect(await r3.proc.exited()).toBe(0);
    r3.proc = startCli(r3.file);
    await r3.proc.waitFor('started');
    const s = await status(r3);
    expect(s.config.version).toBe(3);
    expect(s.config.failed?.version).toBe(4);
    expect(s.pools.map((p) => p.name)).toEqual(['blue']);
    expect(await metric(r3, 'sluice_config_rollout_failures_total')).toBe(1);
    const log = r3.proc.output();
    expect(log).toMatch(/"event":"config_version_refused","version":4/);
    // Version 3 applied before the listeners opened: never the node's own file (no pools) first.
    expect(log.indexOf('"event":"config_version_applied","version":3')).toBeGreaterThan(-1);
    expect(log.indexOf('"event":"config_version_applied","version":3')).toBeLessThan(log.indexOf('"event":"listening"'));
  }, 30_000);

  it('SIGHUP tries the newest version again once the node has what it lacked', async () => {
    const r3 = nodes[2] as Node;
    writeFileSync(join(dirname(r3.file), 'admin.token'), 'x'.repeat(20));
    r3.proc.child.kill('SIGHUP');
    const s = await until('r3 on version 4 after SIGHUP', () => status(r3), (s) => s.config.version === 4);
    expect(s.config.failed).toBeNull();
    expect(s.pools.map((p) => p.name)).toEqual(['green']);
  }, 30_000);

  // Another fleet on the same Redis (key_prefix "lone:"): its only version names a file r4 lacks.
  it('a node on which no pushed version loads runs its own file, and every node\'s status says so', async () => {
    expect(await cli('push', '--config', writeFleet('green', true), '--prefix', 'lone:')).toContain('published config version 1');
    const lone: Node[] = [];
    try {
      for (const id of ['r4', 'r5']) {
        const dir = tempDir(`sluice-${id}-`);
        const admin = await freePort();
        const file = join(dir, 'sluice.toml');
        writeFileSync(file, ['[node]', `id = "${id}"`, 'data_dir = "data"', '[cluster]', `redis_url = "${redis.url}"`, 'key_prefix = "lone:"', 'config = "redis"', '[admin]', `listen = "127.0.0.1:${admin}"`, `token = "${TOKEN}"`].join('\n'));
        if (id === 'r5') writeFileSync(join(dir, 'admin.token'), 'x'.repeat(20));
        lone.push({ id, admin, file, proc: startCli(file) });
      }
      await Promise.all(lone.map((n) => n.proc.waitFor('started')));
      const [r4, r5] = lone as [Node, Node];
      expect(r4.proc.output()).toMatch(/"event":"config_no_version_applies","latest":1/);
      const s4 = await status(r4);
      expect(s4.config).toMatchObject({ source: 'redis', version: 0, failed: { version: 1 }, latest: 1 });
      expect(s4.pools).toEqual([]);
      expect((await status(r5)).config).toMatchObject({ version: 1, failed: null });
      // r5 sees r4 on its own file (0) with version 1 refused, from r4's heartbeat.
      const versions = (s: { nodes: NodeRow[] }) => JSON.stringify(s.nodes.map((x) => [x.id, x.config_version, x.config_failed]));
      await until('r5 seeing r4 refuse version 1', () => status(r5), (s) => versions(s) === JSON.stringify([['r4', 0, 1], ['r5', 1, null]]));
      await until('r4 seeing the same', () => status(r4), (s) => versions(s) === JSON.stringify([['r4', 0, 1], ['r5', 1, null]]));
    } finally {
      for (const n of lone) n.proc.child.kill('SIGTERM');
      await Promise.all(lone.map((n) => n.proc.exited()));
    }
  }, 40_000);

  it('says which Redis it cannot reach, and how to name another', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const r = await run(process.execPath, [CLI, 'config', 'history', '--redis', dead]).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 1, stderr: `sluice: cannot reach Redis at ${dead} (ECONNREFUSED): check that it runs there, or give --redis redis://host:port/db\n` });
  });
});
