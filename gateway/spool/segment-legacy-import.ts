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

/** Hands each imported message to `onMessage` once it is in a segment; resolves with how many. */
export async function importLegacySpool(root: string, target: ImportTarget, onMessage: (m: RecoveredMessage) => void, onCorrupt: (file: string, reason: string) => void): Promise<number> {
  const msgDir = join(root, 'msg');
  if (!(await stat(msgDir).catch(() => null))?.isDirectory()) return 0;
  const legacy = await DiskSpool.open(root);
  // A one-time migration from the old layout: its list is built before importing, not streamed.
  const found: RecoveredMessage[] = [];
  await legacy.recover((m) => found.push(m), onCorrupt);
  let imported = 0;
  for (let i = 0; i < found.length; i += CONCURRENCY) {
    await Promise.all(
      found.slice(i, i + CONCURRENCY).map(async (m) => {
        const id = m.envelope.id;
        if (!target.has(id)) {
          await target.commit(m.envelope, await legacy.readBody(id));
          onMessage(m);
          imported++;
        }
        for (const [rcpt, state] of m.done) target.record(id, rcpt, state);
        for (const [rcpt, attempts] of m.attempts) {
          const nextAt = m.retryAt?.get(rcpt);
          target.record(id, rcpt, nextAt === undefined ? { attempts } : { attempts, nextAt });
        }
        await legacy.remove(id);
      }),
    );
  }
  await legacy.close();
  for (const d of [msgDir, join(root, 'tmp')]) await rmdir(d).catch(() => undefined);
  return imported;
}
