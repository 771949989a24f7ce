import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { configPath, SluiceError } from '../../gateway/plugin-host/public.js';
import type { DkimKeyConfig } from './config.js';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

/** A `[[dkim.keys]]` entry with its private key loaded and checked. */
export interface LoadedKey {
  /** Signing domain (d=), lower case. */
  readonly domain: string;
  readonly selector: string;
  readonly subDomains: boolean;
  readonly algorithm: DkimAlgorithm;
  readonly privateKey: KeyObject;
  /** Modulus size for RSA keys, null for Ed25519. */
  readonly bits: number | null;
  /** Absolute path of the PEM, for logs. */
  readonly file: string;
}

/** RFC 8301 §3.2: verifiers must not accept RSA keys under 1024 bits. */
export const MIN_RSA_BITS = 1024;
/** RFC 8301 §3.2: signers should use at least 2048 bits. */
export const RECOMMENDED_RSA_BITS = 2048;

interface KeyContext {
  readonly configFile: string;
  readonly index: number;
}

function where(entry: DkimKeyConfig, ctx: KeyContext): string {
  // The same numbering as every other config message: dkim.keys[0] is the first [[dkim.keys]].
  return `${ctx.configFile} dkim.keys[${ctx.index}] (domain = "${entry.domain}", selector = "${entry.selector}")`;
}

function keygenHint(entry: DkimKeyConfig, ctx: KeyContext): string {
  // --config writes the key beside the config, where a relative "key" path points.
  return `sluice dkim keygen --domain ${entry.domain} --selector ${entry.selector} --config ${ctx.configFile}`;
}

function invalid(message: string, cause?: unknown): SluiceError {
  return new SluiceError('DKIM_KEY_INVALID', message, cause === undefined ? undefined : { cause });
}

async function readPem(file: string, entry: DkimKeyConfig, ctx: KeyContext): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw invalid(
        `${where(entry, ctx)}: key file ${file} does not exist. Create it with "${keygenHint(entry, ctx)}" and publish the TXT record it prints, or fix the "key" path (it is relative to the config file's directory).`,
        err,
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw invalid(
        `${where(entry, ctx)}: key file ${file} is not readable by this user. Give the user sluice runs as read access (owner of the file, mode 0600).`,
        err,
      );
    }
    if (code === 'EISDIR') {
      throw invalid(`${where(entry, ctx)}: key ${file} is a directory; "key" must name the PEM file itself.`, err);
    }
    throw invalid(`${where(entry, ctx)}: cannot read key file ${file} (${code ?? String(err)}).`, err);
  }
}

function parsePem(pem: string, file: string, entry: DkimKeyConfig, ctx: KeyContext): KeyObject {
  if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem) && !/PRIVATE KEY-----/.test(pem)) {
    throw invalid(`${where(entry, ctx)}: ${file} holds a public key; "key" must name the private key (the public half goes in DNS).`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw invalid(`${where(entry, ctx)}: ${file} is encrypted with a passphrase; store the key unencrypted with mode 0600 (sluice cannot prompt for a passphrase).`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw invalid(`${where(entry, ctx)}: ${file} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block). Create one with "${keygenHint(entry, ctx)}".`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw invalid(
      `${where(entry, ctx)}: ${file} is not a valid PEM private key (${(err as Error).message}). Replace it with one made by "${keygenHint(entry, ctx)}".`,
      err,
    );
  }
}

function algorithmOf(key: KeyObject, file: string, entry: DkimKeyConfig, ctx: KeyContext): { algorithm: DkimAlgorithm; bits: number | null } {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return { algorithm: 'ed25519-sha256', bits: null };
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw invalid(
        `${where(entry, ctx)}: ${file} is a ${bits}-bit RSA key; DKIM verifiers reject RSA keys under ${MIN_RSA_BITS} bits (RFC 8301 §3.2). Generate a ${RECOMMENDED_RSA_BITS}-bit key with "${keygenHint(entry, ctx)}" under a new selector.`,
      );
    }
    return { algorithm: 'rsa-sha256', bits };
  }
  throw invalid(
    `${where(entry, ctx)}: ${file} holds a key of type "${type ?? 'unknown'}"; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256, RFC 8463) only.`,
  );
}

/**
 * Loads and checks every configured key. Any problem throws SluiceError
 * DKIM_KEY_INVALID naming the file and the fix, so a bad key stops start-up
 * instead of silently sending unsigned mail.
 */
export async function loadKeys(
  entries: readonly DkimKeyConfig[],
  opts: { baseDir: string; configFile: string },
): Promise<LoadedKey[]> {
  const loaded: LoadedKey[] = [];
  for (const [index, entry] of entries.entries()) loaded.push(await loadKey(entry, index, opts));
  return loaded;
}

/** Every key that would stop start-up, each with its message (check-config: all in one pass). */
export async function keyProblems(entries: readonly DkimKeyConfig[], opts: { baseDir: string; configFile: string }): Promise<{ key: string; message: string }[]> {
  const out: { key: string; message: string }[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      await loadKey(entry, index, opts);
    } catch (err) {
      // The message starts with "FILE dkim.keys[i] (…): "; check-config prints file and key itself.
      const message = (err as Error).message.replace(/^.*?\): /, '');
      out.push({ key: `keys[${index}].key`, message });
    }
  }
  return out;
}

async function loadKey(entry: DkimKeyConfig, index: number, opts: { baseDir: string; configFile: string }): Promise<LoadedKey> {
  const ctx = { configFile: opts.configFile, index };
  const file = configPath(opts.baseDir, entry.key);
  const privateKey = parsePem(await readPem(file, entry, ctx), file, entry, ctx);
  const { algorithm, bits } = algorithmOf(privateKey, file, entry, ctx);
  if (entry.algorithm !== undefined && entry.algorithm !== algorithm) {
    throw invalid(
      `${where(entry, ctx)}: algorithm = "${entry.algorithm}" but ${file} holds an ${algorithm === 'rsa-sha256' ? 'RSA' : 'Ed25519'} key (${algorithm}). Remove "algorithm" (it is taken from the PEM) or point "key" at the right file.`,
    );
  }
  return { domain: entry.domain, selector: entry.selector, subDomains: entry.sub_domains, algorithm, privateKey, bits, file };
}
