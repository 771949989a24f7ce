/** Spool helpers for tests. */
import type { RecoveredMessage, Spool } from '../../gateway/spool/types.js';

/** Recovers a spool into a list (the node streams them into the scheduler instead). */
export async function recoverAll(spool: Spool, onCorrupt: (file: string, reason: string) => void): Promise<RecoveredMessage[]> {
  const found: RecoveredMessage[] = [];
  const count = await spool.recover((m) => found.push(m), onCorrupt);
  if (count !== found.length) throw new Error(`recover() said ${count}, handed over ${found.length}`);
  return found;
}
