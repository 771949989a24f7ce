/**
 * deploy/sluice.service passes `systemd-analyze verify` and the offline security audit
 * (skipped where systemd-analyze is missing), and its SystemCallFilter=@system-service
 * allows every system call a node makes: the node runs under strace (skipped without it)
 * while it takes a message over STARTTLS, delivers it, answers `sluice health`, reloads
 * on SIGHUP and drains on SIGTERM, and each call it made is checked against the set.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, tempDir } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startTestMx } from '../support/test-mx.js';

const UNIT = join(ROOT, 'deploy/sluice.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const hasStrace = spawnSync('strace', ['-V']).status === 0;

/** The calls in a group of `systemd-analyze syscall-filter`, nested groups expanded. */
function syscallGroup(name: string): Set<string> {
  const groups = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of execFileSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8' }).split('\n')) {
    if (line.startsWith('@')) groups.set(line.split(/\s/)[0] ?? '', (current = []));
    else if (current && line.trim() && !line.trim().startsWith('#')) current.push(line.trim());
  }
  const expand = (g: string): string[] => (groups.get(g) ?? []).flatMap((x) => (x.startsWith('@') ? expand(x) : [x]));
  return new Set(expand(name));
}

describe.skipIf(!hasAnalyze)('deploy/sluice.service', () => {
  it('verifies, with the hardening and the drain the docs promise', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(r.stderr.split('\n').filter((l) => l.includes('sluice.service'))).toEqual([]);
    expect(r.status).toBe(0);
    const text = readFileSync(UNIT, 'utf8');
    for (const line of ['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/sluice', 'NoNewPrivileges=true', 'SystemCallFilter=@system-service', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillSignal=SIGTERM', 'User=sluice']) expect(text).toContain(line);
    // The stop timeout covers the default drain_timeout (30s) with room to spare.
    expect(Number(/^TimeoutStopSec=(\d+)s$/m.exec(text)?.[1])).toBeGreaterThan(30);
    const audit = spawnSync('systemd-analyze', ['security', '--offline=true', UNIT], { encoding: 'utf8' });
    const level = Number(/Overall exposure level for sluice\.service: ([\d.]+)/.exec(audit.stdout)?.[1]);
    expect(level, audit.stdout.slice(-400)).toBeLessThanOrEqual(2);
  });

  it.skipIf(!hasStrace)('a node makes no system call outside SystemCallFilter=@system-service', async () => {
    const dir = tempDir();
    const mx = await startTestMx({ host: '127.0.0.29', port: await freePort('127.0.0.29') });
    const port = await freePort();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, ['[node]', 'id = "unit"', 'data_dir = "data"', 'drain_timeout = "3s"', '[[listen]]', 'host = "127.0.0.1"', `port = ${port}`, 'mode = "relay"', 'tls = "starttls"', '[dns.static]', `"*" = "127.0.0.29:${mx.port}"`].join('\n'));
    const trace = join(dir, 'trace.txt');
    const child = spawn('strace', ['-f', '-qq', '-o', trace, process.execPath, CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await expect.poll(() => out.includes('"event":"started"'), { timeout: 30_000 }).toBe(true);
    const c = await RawSmtp.open(port);
    await c.read();
    await c.cmd('EHLO app.test');
    await c.starttls();
    await c.cmd('EHLO app.test');
    expect((await c.send('app@example.com', ['unit@example.net'], message({ to: 'unit@example.net' })))?.code).toBe(250);
    c.close();
    const [got] = await mx.waitFor(1, 20_000);
    expect(got?.rcpts).toEqual(['unit@example.net']);
    const health = spawnSync(process.execPath, [CLI, 'health', '--config', file], { encoding: 'utf8' });
    expect(health.stdout, health.stderr).toContain('healthy');
    // Signals go to the node itself (strace, its parent, would take them as its own).
    const pid = Number(execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim());
    process.kill(pid, 'SIGHUP');
    await expect.poll(() => out.includes('"event":"config_reloaded"'), { timeout: 10_000 }).toBe(true);
    process.kill(pid, 'SIGTERM');
    expect(await exited).toBe(0);
    await mx.close();
    const used = new Set<string>();
    for (const line of readFileSync(trace, 'utf8').split('\n')) {
      const m = /^\d+\s+([a-z0-9_]+)\(/.exec(line);
      if (m?.[1]) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(30);
    const allowed = syscallGroup('@system-service');
    // V8 probes memory protection keys and falls back when the call fails (EPERM here).
    allowed.add('pkey_alloc');
    expect([...used].filter((s) => !allowed.has(s))).toEqual([]);
  }, 60_000);
});
