/**
 * TLS material for the listeners: [tls] cert and key, or, when absent, a self-signed
 * certificate generated once into data_dir/tls/ (and reused after restarts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly generated: boolean;
  readonly path: string;
}

export async function loadTls(tls: { cert: string; key: string } | undefined, baseDir: string, dataDir: string, hostname: string): Promise<TlsMaterial> {
  if (tls) {
    const certPath = isAbsolute(tls.cert) ? tls.cert : resolve(baseDir, tls.cert);
    const keyPath = isAbsolute(tls.key) ? tls.key : resolve(baseDir, tls.key);
    return { cert: await readFile(certPath), key: await readFile(keyPath), generated: false, path: certPath };
  }
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'self-signed.crt');
  const keyPath = join(dir, 'self-signed.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: await readFile(certPath), key: await readFile(keyPath), generated: true, path: certPath };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const notAfter = new Date(Date.now() + 3 * 365 * 86_400_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] }],
  } as Parameters<typeof selfsigned.generate>[1]);
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  await writeFile(certPath, pems.cert, { mode: 0o644 });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), generated: true, path: certPath };
}
