// `sluice dkim keygen` writes a private key (0600, never overwritten) and prints the TXT record.
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';

const run = promisify(execFile);

test.each(['rsa', 'ed25519'])('%s key and its DNS record', async (algorithm) => {
  const dir = tempDir();
  const { stdout } = await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 's1', '--algorithm', algorithm, '--dir', dir]);
  const path = join(dir, 'example.com.s1.pem');
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const key = createPrivateKey(readFileSync(path));
  expect(key.asymmetricKeyType).toBe(algorithm);
  const txt = /s1\._domainkey\.example\.com\. IN TXT "v=DKIM1; k=(\w+); p=([A-Za-z0-9+/=]+)"/.exec(stdout);
  expect(txt?.[1]).toBe(algorithm);
  if (algorithm === 'rsa') expect(Buffer.from(txt?.[2] ?? '', 'base64')).toEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  else expect(Buffer.from(txt?.[2] ?? '', 'base64')).toHaveLength(32);
  await expect(run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 's1', '--dir', dir])).rejects.toMatchObject({ code: 2 });
});

// Config paths resolve against the config file's directory: with --config the key lands
// there and the printed [[dkim.keys]] lines, pasted as they are, pass check-config and
// load, whatever the current directory was.
test('--config writes beside the config and prints [[dkim.keys]] lines that check-config accepts', async () => {
  const confDir = tempDir();
  const elsewhere = tempDir();
  const file = join(confDir, 'sluice.toml');
  writeFileSync(file, '[node]\ndata_dir = "data"\n');
  const { stdout } = await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 's1', '--config', file], { cwd: elsewhere });
  expect(statSync(join(confDir, 'certs/dkim/example.com.s1.pem')).mode & 0o777).toBe(0o600);
  expect(existsSync(join(elsewhere, 'certs'))).toBe(false);
  const snippet = stdout.slice(stdout.indexOf('[[dkim.keys]]'));
  expect(snippet).toBe('[[dkim.keys]]\ndomain = "example.com"\nselector = "s1"\nkey = "certs/dkim/example.com.s1.pem"\n');
  appendFileSync(file, snippet);
  const checked = await run(process.execPath, [CLI, 'check-config', '--config', file], { cwd: elsewhere });
  expect(checked.stdout).toMatch(/^OK: /);
});

test('without --config the printed key path is absolute, so it is right from any config', async () => {
  const cwd = tempDir();
  const { stdout } = await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.org', '--selector', 's2'], { cwd });
  expect(stdout).toContain(`key = "${join(cwd, 'certs/dkim/example.org.s2.pem')}"`);
});

// In the container the config is a read-only mount and only /data (SLUICE_DATA_DIR) outlives
// the container: there the key goes under the data root, and the printed lines still load.
test('with SLUICE_DATA_DIR the key goes to <root>/dkim, not beside the config, and the printed lines load', async () => {
  const confDir = tempDir();
  const root = join(tempDir(), 'volume');
  const file = join(confDir, 'sluice.toml');
  writeFileSync(file, '[node]\ndata_dir = "data"\n[plugins]\norder = ["dkim"]\n');
  const env = { ...process.env, SLUICE_DATA_DIR: root };
  const { stdout } = await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 's9', '--config', file], { env });
  expect(statSync(join(root, 'dkim/example.com.s9.pem')).mode & 0o777).toBe(0o600);
  expect(existsSync(join(confDir, 'certs'))).toBe(false);
  const snippet = stdout.slice(stdout.indexOf('[[dkim.keys]]'));
  expect(snippet).toBe(`[[dkim.keys]]\ndomain = "example.com"\nselector = "s9"\nkey = "${join(root, 'dkim/example.com.s9.pem')}"\n`);
  appendFileSync(file, snippet);
  const checked = await run(process.execPath, [CLI, 'check-config', '--config', file], { env });
  expect(checked.stdout).toMatch(/^OK: /);
  // --dir still wins (relative to the config's directory, as before).
  await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'example.com', '--selector', 's10', '--config', file, '--dir', 'keys'], { env });
  expect(existsSync(join(confDir, 'keys/example.com.s10.pem'))).toBe(true);
});
