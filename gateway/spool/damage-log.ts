/**
 * What recovery found damaged, as ops read it in the log: one `spool_quarantined` line
 * per damaged region (file, offset, length, and the queue ids and Message-IDs of what was
 * lost there), then one `spool_record_lost` line per lost message naming its sender.
 * Issue 11: the log said "segment header corrupt" once, with no count, ids or senders.
 */
import type { Logger } from '../queue/types.js';
import type { LostMessage, SpoolDamage } from './types.js';

/** Logs one report; returns the lost messages whose senders should get a DSN. */
export function logDamage(log: Logger, file: string, reason: string, damage: SpoolDamage | undefined): LostMessage[] {
  if (!damage) {
    // DiskSpool (a spool from before segments): one file per message, named by its queue id.
    log.error({ event: 'spool_quarantined', file, reason, queue_id: file.replace(/\.(msg|log)$/, '') }, 'corrupt spool entry moved to quarantine');
    return [];
  }
  const ids = [...damage.lost.map((m) => m.envelope.id), ...damage.unchecked.map((u) => u.id)];
  const messageIds = [...damage.lost.map((m) => m.envelope.messageId), ...damage.unchecked.map((u) => u.messageId)].filter((m): m is string => m !== null);
  const event = damage.where === 'journal.log' ? 'journal_garbage' : 'spool_quarantined';
  const text = damage.where === 'journal.log' ? 'journal bytes skipped: facts there are lost (recipients may be sent again)' : damage.quarantined ? 'damaged spool bytes moved to quarantine' : 'damaged spool bytes not copied to quarantine (see reason)';
  log.error({ event, file, reason, where: damage.where, offset: damage.offset, length: damage.length, quarantined: damage.quarantined, torn_tail: damage.tornTail, lost: ids.length, queue_ids: ids, message_ids: messageIds }, text);
  // A torn tail may be a write the crash cut short: its client got no 250 and sends it again.
  const dsn = !damage.tornTail;
  const toTell: LostMessage[] = [];
  for (const m of damage.lost) {
    const e = m.envelope;
    const tell = dsn && !e.isDsn && e.mailFrom !== '' && e.rcpts.some((r) => !m.done.has(r));
    log.error({ event: 'spool_record_lost', queue_id: e.id, sender: e.mailFrom, message_id: e.messageId, rcpts: e.rcpts.length, where: damage.where, offset: damage.offset, dsn: tell }, 'message lost to spool damage');
    if (tell) toTell.push(m);
  }
  for (const u of damage.unchecked) {
    log.error({ event: 'spool_record_lost', queue_id: u.id, sender: u.mailFrom, message_id: u.messageId, where: damage.where, offset: damage.offset, dsn: false, checked: false }, 'message probably lost to spool damage (its envelope could not be checked)');
  }
  return toTell;
}
