import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimKeygen } from '../../gateway/cli/dkim-keygen.js';
import { SluiceError } from '../../gateway/errors.js';
import type { PluginLogger, SetupCtx } from '../../gateway/plugin-host/public.js';
import { configSchema, createDkimPlugin } from '../../plugins/dkim/index.js';

let dir = '';
const warnings: unknown[] = [];
const log: PluginLogger = { debug() {}, info() {}, warn: (o) => void warnings.push(o), error() {} };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-dkim-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pkcs8(key: ReturnType<typeof generateKeyPairSync>['privateKey']): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function setup(keys: Array<Record<string, unknown>>): Promise<unknown> {
  const plugin = createDkimPlugin();
  const ctx: SetupCtx = { config: { keys }, configFile: '/etc/sluice/sluice.toml', baseDir: dir, log, state: {} as SetupCtx['state'], metrics: new Registry() };
  return plugin.setup?.(ctx);
}

async function setupError(keys: Array<Record<string, unknown>>): Promise<SluiceError> {
  const err: unknown = await setup(keys).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe('dkimKeygen', () => {
  it('writes an RSA key (0600) and returns its TXT record', async () => {
    const out = await dkimKeygen({ domain: 'Example.com', selector: 's2026', algorithm: 'rsa', dir: join(dir, 'keys') });
    expect(out.path).toBe(join(dir, 'keys', 'example.com.s2026.pem'));
    expect(out.txtName).toBe('s2026._domainkey.example.com');
    expect((await stat(out.path)).mode & 0o777).toBe(0o600);
    const priv = createPrivateKey(await readFile(out.path, 'utf8'));
    expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const p = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)$/.exec(out.txtValue)?.[1] ?? '';
    const pub = createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
    expect(pub.export({ format: 'der', type: 'spki' })).toEqual(createPublicKey(priv).export({ format: 'der', type: 'spki' }));
  });

  it('writes an Ed25519 key whose p= is the raw 32-byte key (RFC 8463)', async () => {
    const out = await dkimKeygen({ domain: 'example.com', selector: 'ed', algorithm: 'ed25519', dir });
    const p = /^v=DKIM1; k=ed25519; p=(.+)$/.exec(out.txtValue)?.[1] ?? '';
    const raw = Buffer.from(p, 'base64');
    expect(raw).toHaveLength(32);
    const spki = createPublicKey(createPrivateKey(await readFile(out.path, 'utf8'))).export({ format: 'der', type: 'spki' });
    expect(spki.subarray(-32)).toEqual(raw);
  });

  it('refuses to overwrite a key, weak RSA sizes and odd names', async () => {
    await dkimKeygen({ domain: 'example.org', selector: 'once', algorithm: 'ed25519', dir });
    const before = await readFile(join(dir, 'example.org.once.pem'), 'utf8');
    await expect(dkimKeygen({ domain: 'example.org', selector: 'once', algorithm: 'ed25519', dir })).rejects.toThrow(/already exists; pick a new selector/);
    expect(await readFile(join(dir, 'example.org.once.pem'), 'utf8')).toBe(before);
    await expect(dkimKeygen({ domain: 'example.org', selector: 'weak', algorithm: 'rsa', bits: 512, dir })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(dkimKeygen({ domain: 'example.org', selector: '../../etc/x', algorithm: 'rsa', dir })).rejects.toThrow(/not a valid DNS name/);
  });
});

describe('dkim setup', () => {
  it('loads RSA and Ed25519 keys relative to the config directory', async () => {
    await dkimKeygen({ domain: 'ok.test', selector: 'r', algorithm: 'rsa', dir });
    await dkimKeygen({ domain: 'ok.test', selector: 'e', algorithm: 'ed25519', dir });
    const config = await setup([
      { domain: 'ok.test', selector: 'r', key: 'ok.test.r.pem', algorithm: 'rsa-sha256' },
      { domain: 'ok.test', selector: 'e', key: join(dir, 'ok.test.e.pem') },
    ]);
    expect(config).toEqual({
      keys: [
        { domain: 'ok.test', selector: 'r', key: 'ok.test.r.pem', algorithm: 'rsa-sha256', sub_domains: false },
        { domain: 'ok.test', selector: 'e', key: join(dir, 'ok.test.e.pem'), sub_domains: false },
      ],
    });
  });

  it('a missing key file stops start-up, naming the file and the fix', async () => {
    const err = await setupError([{ domain: 'example.com', selector: 's1', key: 'certs/dkim/example.com.s1.pem' }]);
    expect(err.code).toBe('DKIM_KEY_INVALID');
    expect(err.message).toContain(join(dir, 'certs/dkim/example.com.s1.pem'));
    expect(err.message).toContain('/etc/sluice/sluice.toml dkim.keys[0]');
    expect(err.message).toContain('sluice dkim keygen --domain example.com --selector s1');
  });

  it('refuses RSA keys under 1024 bits and warns under 2048', async () => {
    await writeFile(join(dir, 'rsa512.pem'), pkcs8(generateKeyPairSync('rsa', { modulusLength: 512 }).privateKey));
    const err = await setupError([{ domain: 'example.com', selector: 'old', key: 'rsa512.pem' }]);
    expect(err.message).toMatch(/rsa512\.pem is a 512-bit RSA key; DKIM verifiers reject RSA keys under 1024 bits/);

    await writeFile(join(dir, 'rsa1024.pem'), pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey));
    warnings.length = 0;
    await setup([{ domain: 'example.com', selector: 'k1024', key: 'rsa1024.pem' }]);
    expect(warnings).toMatchObject([{ event: 'dkim_key_weak', bits: 1024 }]);
  });

  it('refuses malformed, public, encrypted and non-RSA/Ed25519 keys', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const cases: Array<[string, string, RegExp]> = [
      ['garbage.pem', 'not a key at all\n', /is not a PEM private key/],
      ['broken.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /is not a valid PEM private key/],
      ['public.pem', pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), /holds a public key/],
      [
        'encrypted.pem',
        pair.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }).toString(),
        /is encrypted with a passphrase/,
      ],
      ['ec.pem', pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), /holds a key of type "ec"; DKIM signs with RSA .* or Ed25519/],
    ];
    for (const [file, pem, message] of cases) {
      await writeFile(join(dir, file), pem);
      const err = await setupError([{ domain: 'example.com', selector: 's1', key: file }]);
      expect(err.code, file).toBe('DKIM_KEY_INVALID');
      expect(err.message, file).toMatch(message);
      expect(err.message, file).toContain(join(dir, file));
    }
  });

  it('refuses a key whose PEM does not match the configured algorithm', async () => {
    await dkimKeygen({ domain: 'mismatch.test', selector: 'e', algorithm: 'ed25519', dir });
    const err = await setupError([{ domain: 'mismatch.test', selector: 'e', key: 'mismatch.test.e.pem', algorithm: 'rsa-sha256' }]);
    expect(err.message).toMatch(/algorithm = "rsa-sha256" but .* holds an Ed25519 key/);
  });

  it.skipIf(process.getuid?.() === 0)('refuses an unreadable key file', async () => {
    const file = join(dir, 'secret.pem');
    await writeFile(file, pkcs8(generateKeyPairSync('ed25519').privateKey));
    await chmod(file, 0o000);
    const err = await setupError([{ domain: 'example.com', selector: 's1', key: 'secret.pem' }]);
    expect(err.message).toMatch(/is not readable by this user/);
  });
});

describe('dkim configSchema', () => {
  it('fills defaults and rejects unknown keys, bad names and duplicates', () => {
    expect(configSchema.parse({})).toEqual({ keys: [] });
    expect(configSchema.safeParse({ keys: [{ domain: 'a.test', selector: 's', key: 'k.pem', subdomains: true }] }).success).toBe(false);
    expect(configSchema.safeParse({ keys: [{ domain: 'a test', selector: 's', key: 'k.pem' }] }).success).toBe(false);
    expect(configSchema.safeParse({ keys: [{ domain: 'a.test', selector: 's', key: 'k.pem', algorithm: 'rsa-sha1' }] }).success).toBe(false);
    const dup = configSchema.safeParse({
      keys: [
        { domain: 'A.test', selector: 's', key: 'a.pem' },
        { domain: 'a.test', selector: 's', key: 'b.pem' },
      ],
    });
    expect(dup.success).toBe(false);
    expect(dup.error?.issues[0]?.message).toMatch(/duplicate key s\._domainkey\.a\.test/);
    expect(configSchema.safeParse({ extra: 1 }).success).toBe(false);
  });
});
