/**
 * Key material for the references we sign ([feedback] X-Sluice-FBL, [bounces] VERP
 * tokens): `secret`, `secret_file`, or a key generated once into data_dir (one node
 * only: the cross-check demands a shared one in a cluster).
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configPath } from '../config/paths.js';
import { SluiceError } from '../errors.js';

export interface SecretConfig {
  readonly secret?: string | undefined;
  readonly secret_file?: string | undefined;
}

/** `section` names the table in errors ("[feedback]"); `keyFile` is the generated key's name in data_dir. */
export async function loadSecret(section: string, cfg: SecretConfig, baseDir: string, dataDir: string, keyFile: string): Promise<string | Buffer> {
  if (cfg.secret !== undefined) return cfg.secret;
  if (cfg.secret_file !== undefined) {
    const path = configPath(baseDir, cfg.secret_file);
    const text = (await readFile(path, 'utf8').catch((err: unknown) => {
      throw new SluiceError('CONFIG_UNREADABLE', `${section} secret_file ${path}: ${(err as Error).message}`, { cause: err });
    })).trim();
    if (text.length < 16) throw new SluiceError('CONFIG_INVALID', `${section} secret_file ${path}: use at least 16 characters`);
    return text;
  }
  const path = join(dataDir, keyFile);
  try {
    return await readFile(path);
  } catch {
    const key = randomBytes(32);
    await writeFile(path, key, { flag: 'wx', mode: 0o600 }).catch(async (err: unknown) => {
      // Another start won the race: use its key.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    await chmod(path, 0o600).catch(() => undefined);
    return readFile(path);
  }
}
