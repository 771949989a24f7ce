/**
 * A bounce or cancel run in turns of the event loop (issue 17 item 4: while it runs, the
 * node's accept p99 stays under twice its idle value). Ending a recipient is cheap, but
 * ending 100 000 in one go is not: each is an outcome event, a journal record and, for
 * its message's last recipient, a DSN read, built and committed with fsync. So a turn
 * ends at most TURN_RECIPIENTS recipients, and `setImmediate` between turns lets the
 * sessions of accepted mail run; and at most DSN_WINDOW finished messages wait for their
 * DSN and their removal from the spool at once, so the action's DSN commits do not crowd
 * the spool's group commit that accepted mail waits on.
 *
 * Nothing is lost if the node dies halfway: each recipient's final state is recorded in
 * the spool's journal as it is ended, and what was not ended yet is still spooled, comes
 * back queued at the next start and is matched again when the action is repeated. A
 * bounce commits each message's DSN before it records its recipients (`before`): a
 * recipient recorded bounced always has its DSN in the spool, and a DSN committed just
 * before a crash names its recipients, which recovery then records bounced (node.ts).
 */
import type { Envelope } from '../spool/types.js';
import type { Parked, QueueItem } from './types.js';

/** Recipients ended per turn of the event loop. */
export const TURN_RECIPIENTS = 50;
/**
 * Finished messages whose DSN and removal from the spool may be under way at once. Each
 * DSN waits for an fsync (the spool's group commit shares one among the commits that
 * arrive together), so this sets how many DSNs one fsync carries: with 4, a bounce of
 * 100 000 recipients of 10 000 messages took 21 to 29 s on the bench machine (about 7 ms
 * an fsync); with 16, 6 to 9 s, and the accept p99 during it no higher than idle
 * (docs/BENCHMARKS.md, "Queue control").
 */
export const DSN_WINDOW = 16;

/** One matched item: ready (its envelope at hand) or parked (the envelope is read back first). */
export type Work = { readonly kind: 'ready'; readonly item: QueueItem } | { readonly kind: 'parked'; readonly parked: Parked };

export interface EndingDeps {
  readonly readEnvelope: (id: string) => Promise<Envelope>;
  /** Ends one recipient; returns the message's DSN and removal when that was its last recipient. */
  readonly end: (item: QueueItem, rcpt: string) => Promise<void> | undefined;
  /**
   * Runs for each message (its items in this run) before its recipients are ended: a
   * bounce commits the sender's DSN. When it rejects, the items go back untouched (`putBack`).
   */
  readonly before?: (items: readonly QueueItem[]) => Promise<void>;
  /** An envelope that could not be read: the item stays queued (the action can be repeated). */
  readonly unreadable: (p: Parked, err: unknown) => void;
  /** The node is stopping: what is left goes back to the queue untouched. */
  readonly stopped: () => boolean;
  readonly putBack: (w: Work) => void;
}

/** What a run did: recipients ended, and recipients left queued (unreadable, or the node stopped). */
export interface EndingReport {
  readonly ended: number;
  readonly left: number;
}

/** Ends every recipient of `work` (items of one message next to each other), a turn at a time. */
export async function endInTurns(work: readonly Work[], deps: EndingDeps): Promise<EndingReport> {
  const removals = new Set<Promise<void>>();
  let ended = 0;
  let left = 0;
  let i = 0;
  /** The next turn's items, their envelopes read while this turn is ended. */
  const nextTurn = (): { turn: Work[]; items: Promise<(QueueItem | null)[]> } => {
    const turn: Work[] = [];
    let n = 0;
    // A message's items stay in one turn: its recipients' DSN is one DSN (bounce/outcomes.ts
    // sends one per message per batch of outcomes; the work comes grouped by message).
    while (i < work.length && (turn.length === 0 || n + rcptsOf(work[i] as Work) <= TURN_RECIPIENTS || workId(work[i] as Work) === workId(turn[turn.length - 1] as Work))) {
      n += rcptsOf(work[i] as Work);
      turn.push(work[i++] as Work);
    }
    return { turn, items: Promise.all(turn.map((w) => itemOf(w, deps))) };
  };
  let next = nextTurn();
  while (next.turn.length > 0) {
    const { turn } = next;
    const items = await next.items;
    if (deps.stopped()) {
      // What is left goes back untouched (an unreadable one went back already).
      const rest = [...turn.filter((_, j) => items[j] !== null), ...work.slice(i)];
      for (const w of [...turn.filter((_, j) => items[j] === null), ...rest]) left += rcptsOf(w);
      for (const w of rest) deps.putBack(w);
      break;
    }
    next = nextTurn();
    const track = (p: Promise<unknown>) => {
      const tracked: Promise<void> = p.then(() => undefined, () => undefined).finally(() => removals.delete(tracked));
      removals.add(tracked);
    };
    /** Ends every recipient of `group` now; their message's DSN and removal, when one was its last. */
    const endAll = (group: readonly QueueItem[]): Promise<void>[] => {
      const out: Promise<void>[] = [];
      for (const item of group) {
        for (const r of [...item.rcpts]) {
          ended++;
          const removal = deps.end(item, r);
          if (removal) out.push(removal);
        }
      }
      return out;
    };
    for (const group of byMessage(turn, items)) {
      for (const w of group.unreadable) left += rcptsOf(w);
      if (group.items.length === 0) continue;
      // A free slot first: the message's DSN may start now. Never between items of one
      // message: a wait there would let a DSN go for the first alone.
      while (removals.size >= DSN_WINDOW) await Promise.race(removals);
      const before = deps.before;
      if (!before) {
        for (const removal of endAll(group.items)) track(removal);
        continue;
      }
      track(
        before(group.items).then(
          () => Promise.all(endAll(group.items)),
          () => {
            for (const w of group.works) {
              left += rcptsOf(w);
              deps.putBack(w);
            }
          },
        ),
      );
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await Promise.all(removals);
  return { ended, left };
}

/** A turn's items by message, in order (a message's items are next to each other). */
function byMessage(turn: readonly Work[], items: readonly (QueueItem | null)[]): { works: Work[]; items: QueueItem[]; unreadable: Work[] }[] {
  const groups: { works: Work[]; items: QueueItem[]; unreadable: Work[] }[] = [];
  let last = '';
  for (const [j, w] of turn.entries()) {
    const id = workId(w);
    if (groups.length === 0 || id !== last) groups.push({ works: [], items: [], unreadable: [] });
    last = id;
    const g = groups[groups.length - 1] as { works: Work[]; items: QueueItem[]; unreadable: Work[] };
    const item = items[j] ?? null;
    if (item === null) g.unreadable.push(w);
    else {
      g.works.push(w);
      g.items.push(item);
    }
  }
  return groups;
}

/** The queue id of the message a work item belongs to. */
export function workId(w: Work): string {
  return w.kind === 'ready' ? w.item.envelope.id : w.parked.id;
}

function rcptsOf(w: Work): number {
  return w.kind === 'ready' ? w.item.rcpts.length : w.parked.rcpts.length;
}

async function itemOf(w: Work, deps: EndingDeps): Promise<QueueItem | null> {
  if (w.kind === 'ready') return w.item;
  const p = w.parked;
  let envelope: Envelope;
  try {
    envelope = await deps.readEnvelope(p.id);
  } catch (err) {
    deps.unreadable(p, err);
    return null;
  }
  return { envelope: { ...envelope, id: p.id }, domain: p.domain, rcpts: [...p.rcpts], attempts: p.attempts, nextAt: p.nextAt, readyAt: p.nextAt, entry: p };
}
