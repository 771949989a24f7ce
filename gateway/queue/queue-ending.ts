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
 * back queued at the next start and is matched again when the action is repeated.
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
    for (const [j, item] of items.entries()) {
      if (item === null) {
        left += rcptsOf(turn[j] as Work);
        continue;
      }
      // A free slot first: the item may be its message's last, whose DSN then starts. Not
      // between items of one message: a wait there would let a DSN go for the first alone.
      if (j === 0 || item.envelope.id !== workId(turn[j - 1] as Work)) while (removals.size >= DSN_WINDOW) await Promise.race(removals);
      for (const r of [...item.rcpts]) {
        ended++;
        const removal = deps.end(item, r);
        if (removal) {
          const tracked: Promise<void> = removal.catch(() => undefined).finally(() => removals.delete(tracked));
          removals.add(tracked);
        }
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await Promise.all(removals);
  return { ended, left };
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
  return { envelope: { ...envelope, id: p.id }, domain: p.entry?.domain ?? '', rcpts: [...p.rcpts], attempts: p.attempts, nextAt: p.nextAt, readyAt: p.nextAt, ...(p.entry ? { entry: p.entry } : {}) };
}
