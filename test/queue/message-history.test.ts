// One message's records in event logs (gateway/queue/message-history.ts): a search follows
// the links a handoff leaves (to_queue_id, peer.queue_id, peer.trace) through rotated
// files, and the nodes' parts merge in time order, the way of the message breaking ties.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeHistories, searchHistory } from '../../gateway/queue/message-history.js';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 5, 12, 0, 0, ms)).toISOString();
const lines = (...rs: object[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** A message accepted on n1 as A, handed to n2 (B), then to n3 (C), delivered there; other mail between. */
function logs() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-history-'));
  const n1 = join(dir, 'n1.log');
  // n1: the accept is in the rotated file, the handoff in the live one.
  writeFileSync(`${n1}.1`, lines({ event: 'queued', at: at(1), node: 'n1', queue_id: 'A', recipient: 'x@d.test' }, { event: 'queued', at: at(2), node: 'n1', queue_id: 'Z', recipient: 'other@d.test' }));
  writeFileSync(n1, lines({ event: 'handed_off', at: at(5), node: 'n1', queue_id: 'A', to: 'n2', to_queue_id: 'B', recipients: ['x@d.test'] }, { event: 'delivered', at: at(6), node: 'n1', queue_id: 'Z' }));
  const n2 = join(dir, 'n2.log');
  writeFileSync(n2, lines({ event: 'queued', at: at(5), node: 'n2', queue_id: 'B', peer: { how: 'handoff', from: 'n1', queue_id: 'A', origin: 'n1', hops: 1, trace: 'n1/A' } }, { event: 'deferred', at: at(7), node: 'n2', queue_id: 'B' }, { event: 'handed_off', at: at(9), node: 'n2', queue_id: 'B', to: 'n3', to_queue_id: 'C', recipients: ['x@d.test'] }));
  const n3 = join(dir, 'n3.log');
  writeFileSync(n3, lines({ event: 'queued', at: at(10), node: 'n3', queue_id: 'C', peer: { how: 'handoff', from: 'n2', queue_id: 'B', origin: 'n1', hops: 2, trace: 'n1/A n2/B' } }, { event: 'delivered', at: at(11), node: 'n3', queue_id: 'C' }, { event: 'delivered', at: at(12), node: 'n3', queue_id: 'Y' }));
  writeFileSync(n3, '{"event":"deliv', { flag: 'a' }); // a torn last line
  return { n1, n2, n3 };
}

describe('searchHistory', () => {
  it('follows the handoffs from the accepting id, over rotated files, skipping other mail and a torn line', async () => {
    const { n1, n2, n3 } = logs();
    const p1 = await searchHistory(n1, 1, ['A']);
    expect(p1.records.map((r) => `${String(r['queue_id'])} ${String(r['event'])}`)).toEqual(['A queued', 'A handed_off']);
    expect(new Set(p1.ids)).toEqual(new Set(['A', 'B']));
    expect(p1.hops).toBe(0);
    const p2 = await searchHistory(n2, 1, ['A']);
    expect(p2.records.map((r) => String(r['event']))).toEqual(['queued', 'deferred', 'handed_off']);
    expect(p2.hops).toBe(1);
    // n3 knows A only through the trace of its queued record.
    const p3 = await searchHistory(n3, 1, ['A']);
    expect(p3.records.map((r) => `${String(r['queue_id'])} ${String(r['event'])}`)).toEqual(['C queued', 'C delivered']);
    expect(p3.hops).toBe(2);
    expect(mergeHistories([p3, p1, p2]).map((r) => `${String(r['node'])} ${String(r['event'])}`)).toEqual(['n1 queued', 'n1 handed_off', 'n2 queued', 'n2 deferred', 'n2 handed_off', 'n3 queued', 'n3 delivered']);
  });

  it('asked with the last id, a node links back only what comes after; the ids it returns find the rest', async () => {
    const { n1 } = logs();
    // n1 meets B only in its handoff line, after A's accept: a second search with A finds that.
    const first = await searchHistory(n1, 1, ['B']);
    expect(first.records.map((r) => String(r['event']))).toEqual(['handed_off']);
    expect(first.ids).toContain('A');
    const again = await searchHistory(n1, 1, first.ids);
    expect(again.records.map((r) => String(r['event']))).toEqual(['queued', 'handed_off']);
  });

  it('a file that does not exist is an empty part', async () => {
    expect(await searchHistory(join(tmpdir(), 'sluice-no-such-dir', 'events.log'), 3, ['A'])).toEqual({ records: [], ids: ['A'], truncated: false, hops: 0 });
  });
});
