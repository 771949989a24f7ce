import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Sluice project root: the nearest directory above `from` (this file once compiled,
 * dist/loadtest/…) whose package.json is named "sluice"; else the same search from `cwd`.
 */
export function findProjectRoot(from: string, cwd: string): string | null {
  for (const start of [path.dirname(fileURLToPath(from)), cwd]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const pkg = path.join(dir, 'package.json');
      if (existsSync(pkg) && isSluice(pkg)) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  return null;
}

function isSluice(pkgFile: string): boolean {
  try {
    return (JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: unknown }).name === 'sluice';
  } catch {
    return false;
  }
}
