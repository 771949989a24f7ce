/** Spool helpers for tests. */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { Envelope, RecoveredMessage, Spool } from '../../gateway/spool/types.js';

/** Recovers a spool into a list (the node streams them into the scheduler instead). */
export async function recoverAll(spool: Spool, onCorrupt: (file: string, reason: string) => void): Promise<RecoveredMessage[]> {
  const found: RecoveredMessage[] = [];
  const count = await spool.recover((m) => found.push(m), onCorrupt);
  if (count !== found.length) throw new Error(`recover() said ${count}, handed over ${found.length}`);
  return found;
}

/** Makes temporary spool roots named `<prefix>…`, removed after the test file's tests. */
export function tempRoots(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/** An envelope with one recipient, `<id>@example.net`, and `over` on top. */
export function spoolEnvelope(id: string, over: Partial<Envelope> = {}): Envelope {
  return { id, mailFrom: 'app@example.com', rcpts: [`${id.toLowerCase()}@example.net`], receivedAt: 1_780_000_000_000, class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false, ...over };
}
