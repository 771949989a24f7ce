import { isAbsolute, resolve } from 'node:path';

/**
 * A path written in the config (data_dir, tls.cert, token_file, include, plugin and key
 * files…): absolute as written, or relative to `baseDir`, the directory of the config file
 * that was loaded, never to the process's working directory. The one place that rule lives.
 */
export function configPath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
