import { isIP } from 'node:net';
import { generate } from 'selfsigned';

export interface CertPair {
  /** PEM private key (PKCS#8). */
  readonly key: string;
  /** PEM self-signed certificate; the first hostname is the CN, all are SANs. */
  readonly cert: string;
}

/**
 * A self-signed certificate for tests, made on the fly (selfsigned v5 is async).
 * Hostnames that are IP literals become IP SANs. RSA 2048: selfsigned's EC path fails
 * with the installed @peculiar/asn1-* versions ("Cannot get schema for 'AlgorithmIdentifier'").
 */
export async function makeCert(hostnames: readonly string[] = ['localhost']): Promise<CertPair> {
  const names = hostnames.length > 0 ? hostnames : ['localhost'];
  const altNames = names.map((name) =>
    isIP(name) !== 0 ? { type: 7 as const, ip: name } : { type: 2 as const, value: name },
  );
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
