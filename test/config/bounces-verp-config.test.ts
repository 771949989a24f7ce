// check-config on [bounces] VERP keys: a cluster without a shared secret, a domain that is
// no domain, secret and secret_file together, and VERP keys without a domain are refused,
// each as file:line key: problem and its fix.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';

const run = promisify(execFile);

async function check(toml: string): Promise<{ code: number; out: string; file: string }> {
  const file = join(tempDir(), 'sluice.toml');
  writeFileSync(file, toml);
  try {
    const r = await run(process.execPath, [CLI, 'check-config', '--config', file]);
    return { code: 0, out: r.stdout + r.stderr, file };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr, file };
  }
}

const relay = ['[[listen]]', 'port = 2525', 'mode = "relay"'];

test('with [cluster], a VERP domain needs secret or secret_file', async () => {
  const { code, out, file } = await check(['[cluster]', 'redis_url = "redis://127.0.0.1:6379/0"', ...relay, '[bounces]', 'domain = "bounces.example.com"', ''].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:6 bounces: with [cluster] and domain set, set secret or secret_file`);
});

test('a bad domain, both secret keys, a short secret and keys without a domain name their lines', async () => {
  const bad = await check([...relay, '[bounces]', 'domain = "not a domain"', 'secret = "0123456789abcdef0123"', 'secret_file = "verp.secret"', ''].join('\n'));
  expect(bad.code).toBe(1);
  expect(bad.out).toContain(`${bad.file}:5 bounces.domain: "not a domain" is not a domain name; write e.g. "bounces.example.com"`);
  expect(bad.out).toContain(`${bad.file}:7 bounces.secret_file: set secret or secret_file, not both`);
  const short = await check([...relay, '[bounces]', 'domain = "bounces.example.com"', 'secret = "short"', ''].join('\n'));
  expect(short.out).toContain(`${short.file}:6 bounces.secret: use at least 16 characters`);
  const orphan = await check([...relay, '[bounces]', 'forward = true', ''].join('\n'));
  expect(orphan.out).toContain(`${orphan.file}:5 bounces.forward: only means something with [bounces] domain (VERP) set`);
});

test('a valid VERP section passes', async () => {
  const { code, out } = await check([...relay, '[relay]', 'networks = ["127.0.0.1/32"]', '[bounces]', 'domain = "bounces.example.com"', 'secret = "0123456789abcdef0123"', 'forward = true', ''].join('\n'));
  expect(out).not.toContain('bounces');
  expect(code).toBe(0);
});
