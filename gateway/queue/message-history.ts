/**
 * One message's life as this node's event log (`[events] file`) tells it (issue 17,
 * `GET /api/messages/ID`). A message keeps its queue id on the node that accepted it and
 * on a peer that takes it over from a replica, but gets a new one on each node it is
 * handed to; the records link them: a `handed_off` record names the peer's queue id
 * (`to_queue_id`), and the `queued` record of a message a peer handed here names the
 * sender's (`peer.queue_id`) and the way it came (`peer.trace`: "n1/<id> n2/<id>").
 *
 * So a search is for a set of ids: a record belongs to the message when it names one of
 * them in any of those places, and the ids it names join the set as the file is read (a
 * handed-off message's `queued` record comes before its attempts). Ids found that way are
 * returned, so the fleet layer can ask again with them (an id named by a later record
 * than the records of that id, as when asked with a peer's id: queue-fleet.ts).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** At most this many records per node in one answer: a message to 10 000 recipients has 10 000 `queued` records. */
export const HISTORY_MAX_RECORDS = 2_000;

export interface NodeHistory {
  readonly records: Record<string, unknown>[];
  /** Every id the records linked to the ones asked for (the asked ones included). */
  readonly ids: string[];
  /** More records matched than HISTORY_MAX_RECORDS: the first ones are kept. */
  readonly truncated: boolean;
  /** Peer hops of this node's part (0 on the node that accepted it): orders records of the same millisecond. */
  readonly hops: number;
}

/** The event-log records about `ids`, oldest file first (the rotated ones, then the live one). */
export async function searchHistory(file: string, keep: number, asked: readonly string[]): Promise<NodeHistory> {
  const ids = new Set(asked.filter((id) => id.length > 0));
  const files = [...Array.from({ length: keep }, (_, i) => `${file}.${keep - i}`), file];
  const records: Record<string, unknown>[] = [];
  let truncated = false;
  let hops = Infinity;
  for (const f of files) {
    try {
      const lines = createInterface({ input: createReadStream(f, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!mentions(line, ids)) continue;
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // a torn last line
        }
        const linked = linksOf(r);
        if (!linked.some((id) => ids.has(id))) continue;
        for (const id of linked) ids.add(id);
        const h = peerHops(r);
        if (h !== null) hops = Math.min(hops, h);
        if (records.length < HISTORY_MAX_RECORDS) records.push(r);
        else truncated = true;
      }
    } catch {
      // a rotated file that does not exist (yet)
    }
  }
  return { records, ids: [...ids], truncated, hops: Number.isFinite(hops) ? hops : 0 };
}

function mentions(line: string, ids: ReadonlySet<string>): boolean {
  for (const id of ids) if (line.includes(id)) return true;
  return false;
}

/** The queue ids a record names: its own, the peer's it came from or went to, and its trace's. */
export function linksOf(r: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof r['queue_id'] === 'string') out.push(r['queue_id']);
  if (typeof r['to_queue_id'] === 'string') out.push(r['to_queue_id']);
  const peer = r['peer'];
  if (typeof peer === 'object' && peer !== null) {
    const p = peer as Record<string, unknown>;
    if (typeof p['queue_id'] === 'string') out.push(p['queue_id']);
    if (typeof p['trace'] === 'string') for (const hop of p['trace'].split(' ')) out.push(hop.slice(hop.indexOf('/') + 1));
  }
  return out.filter((id) => id.length > 0);
}

/** The hops of a record that says how the message came here (a handoff or a takeover); else null. */
function peerHops(r: Record<string, unknown>): number | null {
  const peer = r['peer'];
  const hops = typeof peer === 'object' && peer !== null ? (peer as Record<string, unknown>)['hops'] : undefined;
  return typeof hops === 'number' ? hops : null;
}

/**
 * The nodes' parts merged in time order. Records of one millisecond keep the order of the
 * message's way (the node it reached by fewer hops first) and, on one node, file order:
 * a handoff's `handed_off` record carries the time the handoff began, before the peer's
 * `queued` record of the same message.
 */
export function mergeHistories(parts: readonly NodeHistory[]): Record<string, unknown>[] {
  const ordered = [...parts].sort((a, b) => a.hops - b.hops);
  const all = ordered.flatMap((p) => p.records);
  // Array.prototype.sort is stable: equal times keep the order above.
  return all.sort((a, b) => timeOf(a) - timeOf(b));
}

function timeOf(r: Record<string, unknown>): number {
  const t = typeof r['at'] === 'string' ? Date.parse(r['at']) : NaN;
  return Number.isFinite(t) ? t : 0;
}
