/**
 * `sluice health` asks the running node itself (its health socket in the data dir, or the
 * admin listener's /healthz when [admin] is set), and SLUICE_DATA_DIR / --data-dir put
 * everything the node writes under one root whatever the config's relative paths say
 * (what the container image relies on: the /data volume).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, startCli, tempDir, type CliNode } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const run = promisify(execFile);

async function health(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, 'health', ...args], { env: { ...process.env, ...env } });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

let node: CliNode | null = null;
afterEach(async () => {
  node?.child.kill('SIGTERM');
  await node?.exited();
  node = null;
});

describe('sluice health and the data root', () => {
  it('answers through the health socket under SLUICE_DATA_DIR, and the node writes only there', async () => {
    const dir = tempDir();
    const etc = join(dir, 'etc');
    mkdirSync(etc);
    const file = join(etc, 'sluice.toml');
    // Relative paths that would land beside the config: the data root wins.
    const port = await freePort();
    writeFileSync(file, ['[node]', 'id = "box"', 'data_dir = "./data"', '[[listen]]', 'host = "127.0.0.1"', `port = ${port}`, 'mode = "relay"', 'tls = "starttls"', '[bounces]', 'domain = "bounces.example.com"', '[dns.static]', '"*" = "127.0.0.1:9"', '[events]', 'file = "events.log"'].join('\n'));
    const root = join(dir, 'volume');
    node = startCli(file, ['--data-dir', root]);
    await node.waitFor('started');
    // Mail to <postmaster> is kept in the data dir (no [relay] postmaster).
    const c = await RawSmtp.open(port);
    await c.read();
    await c.cmd('EHLO app.test');
    expect((await c.send('someone@example.org', ['postmaster'], message({ to: 'postmaster' })))?.code).toBe(250);
    // A relayed message whose MX is down: its events go to the relative [events] file.
    expect((await c.send('app@example.com', ['later@example.net'], message({ to: 'later@example.net' })))?.code).toBe(250);
    c.close();
    await expect.poll(() => existsSync(join(root, 'events.log')), { timeout: 10_000 }).toBe(true);
    // The suppression list, written by the CLI with the same data root, while the node runs.
    await run(process.execPath, [CLI, 'suppress', 'add', 'gone@example.net', '--config', file], { env: { ...process.env, SLUICE_DATA_DIR: root } });
    // Spool, state, generated TLS certificate and VERP key, postmaster mail, event log, health socket: all under the root.
    for (const name of ['spool', 'state', 'tls', 'verp.key', 'postmaster', 'events.log', 'sluice.sock']) expect(existsSync(join(root, name)), name).toBe(true);
    expect(readdirSync(join(root, 'postmaster')).length).toBe(1);
    expect(readdirSync(etc)).toEqual(['sluice.toml']);
    const listed = await run(process.execPath, [CLI, 'suppress', 'check', 'gone@example.net', '--config', file], { env: { ...process.env, SLUICE_DATA_DIR: root } });
    expect(listed.stdout).toContain('gone@example.net');

    const ok = await health(['--config', file], { SLUICE_DATA_DIR: root });
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('healthy: {"ok":true,"node":"box"}');
    const ready = await health(['--ready'], { SLUICE_CONFIG: file, SLUICE_DATA_DIR: root });
    expect(ready.code).toBe(0);
    expect(ready.out).toContain('"ready":true');

    node.child.kill('SIGTERM');
    await node.exited();
    node = null;
    expect(existsSync(join(root, 'sluice.sock'))).toBe(false);
    expect(readdirSync(etc)).toEqual(['sluice.toml']);
    const down = await health(['--config', file], { SLUICE_DATA_DIR: root });
    expect(down.code).toBe(1);
    expect(down.err).toContain(`unhealthy: no answer from the health socket ${join(root, 'sluice.sock')}`);
  });

  it('finds the socket of a relative data_dir beside the config, whatever the current directory', async () => {
    const dir = tempDir();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, ['[node]', 'id = "rel"', 'data_dir = "data"', '[[listen]]', 'host = "127.0.0.1"', 'port = 0', 'mode = "relay"'].join('\n'));
    node = startCli(file);
    await node.waitFor('started');
    const env = { ...process.env };
    delete env['SLUICE_DATA_DIR'];
    const r = await run(process.execPath, [CLI, 'health', '--config', file], { env, cwd: tempDir() });
    expect(r.stdout).toBe('healthy: {"ok":true,"node":"rel"}\n');
  });

  it('asks the admin listener when [admin] is set', async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, ['[node]', 'id = "adm"', 'data_dir = "data"', '[[listen]]', 'host = "127.0.0.1"', 'port = 0', 'mode = "relay"', '[admin]', `listen = "127.0.0.1:${port}"`, 'token = "a-token-of-sixteen-chars"'].join('\n'));
    const before = await health(['--config', file]);
    expect(before.code).toBe(1);
    expect(before.err).toContain(`no answer from the admin listener 127.0.0.1:${port}`);
    node = startCli(file);
    await node.waitFor('started');
    const ok = await health(['--config', file]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('"node":"adm"');
  });
});
