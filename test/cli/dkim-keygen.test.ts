// `sluice dkim keygen` writes a private key (0600, never overwritten) and prints the TXT record.
import { execFile } from 'node:child_process';
import { statSync, readFileSync } from 'node:fs';
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
