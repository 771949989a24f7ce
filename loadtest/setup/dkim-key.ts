import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SENDER_DOMAIN } from '../client/message.js';

export type DkimAlgorithm = 'rsa' | 'ed25519';

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  readonly keyFile: string;
  /** the DNS name and TXT record (RFC 6376 §3.6.1; RFC 8463 for ed25519) */
  readonly dnsName: string;
  readonly txt: string;
}

/** A fresh signing key for the sender domain, written as PKCS#8 PEM into `dir`. */
export async function writeDkimKey(dir: string, algorithm: DkimAlgorithm): Promise<DkimKey> {
  const selector = 'lt';
  const pair =
    algorithm === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ed25519');
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const der = pair.publicKey.export({ type: 'spki', format: 'der' });
  // ed25519 TXT carries the raw 32-byte key, the last bytes of its SPKI encoding
  const p = (algorithm === 'rsa' ? der : der.subarray(der.length - 32)).toString('base64');
  const keyFile = path.join(dir, `dkim-${algorithm}.pem`);
  await writeFile(keyFile, pem, { mode: 0o600 });
  return {
    domain: SENDER_DOMAIN,
    selector,
    keyFile,
    dnsName: `${selector}._domainkey.${SENDER_DOMAIN}`,
    txt: `v=DKIM1; k=${algorithm}; p=${p}`,
  };
}
