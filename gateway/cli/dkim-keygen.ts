import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { domainToASCII } from 'node:url';
import { SluiceError } from '../errors.js';

export interface DkimKeygenOptions {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: 'rsa' | 'ed25519';
  /** RSA modulus size: 2048 by default, 1024 at least (RFC 8301 §3.2). Ignored for Ed25519. */
  readonly bits?: number;
  /** Directory for the PEM; created (mode 0700) when missing. */
  readonly dir: string;
}

export interface DkimKeygenResult {
  /** `<dir>/<domain>.<selector>.pem`, mode 0600. */
  readonly path: string;
  /** Where the public key goes: `<selector>._domainkey.<domain>`. */
  readonly txtName: string;
  /** The TXT record, e.g. `v=DKIM1; k=rsa; p=MIIB…` (split into 255-byte strings when publishing). */
  readonly txtValue: string;
}

const LABELS = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function dnsName(value: string, what: string): string {
  const ascii = domainToASCII(value.trim().toLowerCase().replace(/\.$/, ''));
  if (ascii === '' || !LABELS.test(ascii)) {
    throw new SluiceError('USAGE', `dkim keygen: ${what} "${value}" is not a valid DNS name`);
  }
  return ascii;
}

function publicKeyValue(algorithm: 'rsa' | 'ed25519', publicKey: KeyObject): string {
  if (algorithm === 'rsa') {
    // RFC 6376 §3.6.1: p= is the base64 DER SubjectPublicKeyInfo.
    return publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  }
  // RFC 8463 §4.2: p= is the raw 32-byte Ed25519 key, i.e. the last 32 bytes of its SPKI.
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('base64');
}

function generate(algorithm: 'rsa' | 'ed25519', bits: number): { privatePem: string; publicKey: KeyObject } {
  const pair =
    algorithm === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
      : generateKeyPairSync('ed25519');
  return { privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: pair.publicKey };
}

/**
 * Makes a DKIM key pair: writes the private key to `<dir>/<domain>.<selector>.pem`
 * (mode 0600, never over an existing file) and returns the DNS TXT record to publish.
 */
export async function dkimKeygen(opts: DkimKeygenOptions): Promise<DkimKeygenResult> {
  const domain = dnsName(opts.domain, 'domain');
  const selector = dnsName(opts.selector, 'selector');
  if (opts.algorithm !== 'rsa' && opts.algorithm !== 'ed25519') {
    throw new SluiceError('USAGE', `dkim keygen: algorithm must be "rsa" or "ed25519", not "${String(opts.algorithm)}"`);
  }
  const bits = opts.bits ?? 2048;
  if (opts.algorithm === 'rsa' && (!Number.isInteger(bits) || bits < 1024 || bits > 8192)) {
    throw new SluiceError('USAGE', `dkim keygen: RSA keys must have 1024 to 8192 bits (2048 recommended, RFC 8301 §3.2), not ${bits}`);
  }

  const { privatePem, publicKey } = generate(opts.algorithm, bits);
  const path = join(opts.dir, `${domain}.${selector}.pem`);
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': fail if the file exists, so a live key is never replaced by accident.
    await writeFile(path, privatePem, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SluiceError(
        'USAGE',
        `dkim keygen: ${path} already exists; pick a new selector to rotate keys (the old key must stay published until mail signed with it has been delivered)`,
        { cause: err },
      );
    }
    throw new SluiceError('USAGE', `dkim keygen: cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }

  return {
    path,
    txtName: `${selector}._domainkey.${domain}`,
    txtValue: `v=DKIM1; k=${opts.algorithm}; p=${publicKeyValue(opts.algorithm, publicKey)}`,
  };
}
