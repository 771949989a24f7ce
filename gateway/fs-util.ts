/** Durable file writes for the data dir (embedded state, postmaster mailbox): shared by every layer. */
import { open, rename, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync a directory so a rename in it survives a crash (POSIX: the entry lives in the dir). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write-to-temp, fsync, rename, fsync dir: readers see the old file or the new one, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDir(dirname(path));
}

/** The parsed JSON in `path`, or undefined when there is no such file yet. */
export async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
