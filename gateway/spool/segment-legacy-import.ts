/**
 * A data dir spooled by DiskSpool (one file per message under msg/) switching to the
 * segment spool: its messages are read with DiskSpool's own recovery (same quarantine
 * and reports), committed into segments with their journal facts, and only then removed
 * from msg/. A crash halfway leaves a message in both; the next start removes the old copy.
 */
import { rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecoveredMessage, Spool } from './types.js';
import { DiskSpool } from './disk-spool.js';

export interface ImportTarget {
  has(id: string): boolean;
  commit: Spool['commit'];
  record: Spool['record'];
}

const CONCURRENCY = 64;

export async function importLegacySpool(root: string, target: ImportTarget, onCorrupt: (file: string, reason: string) => void): Promise<RecoveredMessage[]> {
  const msgDir = join(root, 'msg');
  if (!(await stat(msgDir).catch(() => null))?.isDirectory()) return [];
  const legacy = await DiskSpool.open(root);
  const found = await legacy.recover(onCorrupt);
  const out: RecoveredMessage[] = [];
  for (let i = 0; i < found.length; i += CONCURRENCY) {
    await Promise.all(
      found.slice(i, i + CONCURRENCY).map(async (m) => {
        const id = m.envelope.id;
        if (!target.has(id)) {
          await target.commit(m.envelope, await legacy.readBody(id));
          out.push(m);
        }
        for (const [rcpt, state] of m.done) target.record(id, rcpt, state);
        for (const [rcpt, attempts] of m.attempts) target.record(id, rcpt, { attempts });
        await legacy.remove(id);
      }),
    );
  }
  await legacy.close();
  for (const d of [msgDir, join(root, 'tmp')]) await rmdir(d).catch(() => undefined);
  return out;
}
