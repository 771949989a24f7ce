/**
 * TLS material for the listeners: [tls] cert and key, or, when absent, a self-signed
 * certificate generated into data_dir/tls/ and reused after restarts until it is within
 * RENEW_BEFORE_MS of its end, when a start makes a new one. Its lifetime is the CA/Browser
 * Forum's 397 days, so scanners do not flag it as too long-lived.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configPath } from '../config/paths.js';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly generated: boolean;
  readonly path: string;
}

export async function loadTls(tls: { cert: string; key: string } | undefined, baseDir: string, dataDir: string, hostname: string): Promise<TlsMaterial> {
  if (tls) {
    const certPath = configPath(baseDir, tls.cert);
    const keyPath = configPath(baseDir, tls.key);
    return { cert: await readFile(certPath), key: await readFile(keyPath), generated: false, path: certPath };
  }
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = await readFile(certPath);
    if (!renewalDue(cert, Date.now())) return { cert, key: await readFile(keyPath), generated: true, path: certPath };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const notAfter = new Date(Date.now() + LIFETIME_MS);
  // Loaded only to make a certificate (a first start): its X.509 and ASN.1 modules cost a
  // running node 6.5 MB of heap and about 20 MB of RSS it would never use again.
  const { default: selfsigned } = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] }],
  });
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  await writeFile(certPath, pems.cert, { mode: 0o644 });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), generated: true, path: certPath };
}

const DAY_MS = 86_400_000;
const LIFETIME_MS = 397 * DAY_MS;
const RENEW_BEFORE_MS = 60 * DAY_MS;

/** True when a generated certificate is unreadable or ends within RENEW_BEFORE_MS of `now`. */
export function renewalDue(pem: Buffer, now: number): boolean {
  try {
    return Date.parse(new X509Certificate(pem).validTo) - now < RENEW_BEFORE_MS;
  } catch {
    return true;
  }
}
