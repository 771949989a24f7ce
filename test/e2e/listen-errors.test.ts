// A node that may not bind its ports exits 1 with a message that says how to fix it.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';

function run(file: string, opts: { uid?: number } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

function config(dir: string, port: number): string {
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `[node]\ndata_dir = "${dir}/data"\n[[listen]]\nhost = "127.0.0.1"\nport = ${port}\nmode = "relay"\n`);
  return file;
}

test('a port in use: exit 1 naming the port and how to find the other process', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const { code, out } = await run(config(tempDir(), port));
    expect(code).toBe(1);
    expect(out).toContain(`cannot bind 127.0.0.1:${port}: the port is in use`);
  } finally {
    blocker.close();
  }
});

test.skipIf(process.getuid?.() !== 0)('port 25 without privileges: exit 1 saying what to do', async () => {
  const dir = tempDir();
  chmodSync(dir, 0o777);
  const { code, out } = await run(config(dir, 25), { uid: 65534 });
  expect(code).toBe(1);
  expect(out).toMatch(/cannot bind 127\.0\.0\.1:25: permission denied.*CAP_NET_BIND_SERVICE/s);
});

test('the admin port in use: exit 1 with the same help as an SMTP port, and no stack trace', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const dir = tempDir();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, `[node]\ndata_dir = "${dir}/data"\n[[listen]]\nhost = "127.0.0.1"\nport = 0\nmode = "relay"\n[admin]\nlisten = "127.0.0.1:${port}"\ntoken = "admin-token-0123456789"\n`);
    const { code, out } = await run(file);
    expect(code).toBe(1);
    expect(out).toContain(`cannot bind 127.0.0.1:${port}: the port is in use by another process`);
    expect(out).toContain('change the port in [admin] listen');
    expect(out).not.toMatch(/^\s+at /m);
  } finally {
    blocker.close();
  }
});
