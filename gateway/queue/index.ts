/**
 * The live queue index (issue 17): what is queued on this node, by provider, domain,
 * source, pool, campaign, class and sender, kept up to date as mail flows (the
 * scheduler tells it each step) instead of found by scanning the spool. One entry per
 * queue item (one message's recipients at one domain); each group keeps its counts, so a
 * summary costs one pass over the groups. Groups of the dimensions that pick out a small
 * part of the queue (domain, campaign, sender) also keep their members, so an action on
 * one costs one pass over them; the few large groups of provider, pool, source and class
 * do not (a Set slot is about 26 bytes an entry in each dimension: 10 MB per 100 000
 * queued for those four: they count their mail by minute of arrival for its oldest), and
 * an action that names only those walks the whole queue.
 * Strings that repeat across entries (domain, sender, campaign, class, last reply) are shared.
 */
import { Interner } from './interner.js';
import { matches, type Selector, type SelectorKey } from './selector.js';
import { QUEUE_STATES, type Entry, type QueueState } from './types.js';

export { QUEUE_STATES, type Entry, type QueueState };

export const GROUP_BY = ['provider', 'domain', 'source', 'pool', 'campaign', 'class', 'sender'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export type EntryInit = Pick<Entry, 'id' | 'domain' | 'sender' | 'campaign' | 'cls' | 'receivedAt' | 'pool' | 'provider' | 'source' | 'rcpts' | 'state' | 'attempts' | 'nextAt' | 'lastReply'>;
export type EntryPatch = Partial<Pick<Entry, 'pool' | 'provider' | 'source' | 'rcpts' | 'state' | 'attempts' | 'nextAt' | 'lastReply'>>;

/** One group as `GET /api/queue?by=K` shows it (state counts are recipients). */
export interface GroupView {
  readonly key: string;
  readonly messages: number;
  readonly recipients: number;
  readonly ready: number;
  readonly deferred: number;
  readonly held: number;
  readonly scheduled: number;
  readonly in_flight: number;
  readonly oldest_s: number;
  readonly top_reply: string | null;
}

/** Dimensions whose groups keep their members (selective enough to be worth a Set slot per entry). */
const WITH_MEMBERS: ReadonlySet<GroupBy> = new Set<GroupBy>(['domain', 'campaign', 'sender']);

/** How many of a group's first members its oldest is taken from. */
const FIRST_FEW = 64;
/** Groups without members know their oldest by the minute its mail arrived in. */
const AGE_BUCKET_MS = 60_000;

class Group {
  /** Null for the dimensions without members (WITH_MEMBERS). */
  readonly members: Set<Entry> | null;
  /**
   * Without members: entries per minute of arrival, with the earliest arrival that joined
   * that minute (kept when it leaves: the oldest shown is then at most a minute too old).
   */
  readonly arrivals: Map<number, { n: number; min: number }> | null;
  messages = 0;
  recipients = 0;
  readonly byState: Record<QueueState, number> = { ready: 0, deferred: 0, held: 0, scheduled: 0, in_flight: 0 };
  readonly replies = new Map<string, number>();
  constructor(
    readonly key: string,
    withMembers: boolean,
  ) {
    this.members = withMembers ? new Set() : null;
    this.arrivals = withMembers ? null : new Map();
  }

  joined(e: Entry): void {
    this.messages++;
    if (this.members) {
      this.members.add(e);
      return;
    }
    const minute = Math.floor(e.receivedAt / AGE_BUCKET_MS);
    const b = this.arrivals?.get(minute);
    if (b) {
      b.n++;
      b.min = Math.min(b.min, e.receivedAt);
    } else this.arrivals?.set(minute, { n: 1, min: e.receivedAt });
  }

  left(e: Entry): void {
    this.messages--;
    if (this.members) {
      this.members.delete(e);
      return;
    }
    const minute = Math.floor(e.receivedAt / AGE_BUCKET_MS);
    const b = this.arrivals?.get(minute);
    if (b && --b.n === 0) this.arrivals?.delete(minute);
  }

  /** When the oldest mail of the group arrived (Infinity when it is empty). */
  oldest(): number {
    if (this.arrivals) {
      let first = Infinity;
      for (const minute of this.arrivals.keys()) if (minute < first) first = minute;
      return this.arrivals.get(first)?.min ?? Infinity;
    }
    // Members join in about the order mail arrived: the oldest of the first few.
    let min = Infinity;
    let n = 0;
    for (const e of this.members ?? []) {
      if (e.receivedAt < min) min = e.receivedAt;
      if (++n >= FIRST_FEW) break;
    }
    return min;
  }
}

const NONE = '(none)';

function listOf(had: Entry | Entry[] | undefined): readonly Entry[] {
  return had === undefined ? [] : Array.isArray(had) ? had : [had];
}

function keyOf(e: Entry, by: GroupBy): string {
  switch (by) {
    case 'provider':
      return e.provider;
    case 'domain':
      return e.domain;
    case 'source':
      return e.source ?? NONE;
    case 'pool':
      return e.pool;
    case 'campaign':
      return e.campaign ?? NONE;
    case 'class':
      return e.cls;
    case 'sender':
      return e.sender === '' ? '<>' : e.sender;
  }
}

const SELECTOR_DIM: Partial<Record<SelectorKey, GroupBy>> = { domain: 'domain', provider: 'provider', campaign: 'campaign', sender: 'sender', pool: 'pool', source: 'source', class: 'class' };

export class QueueIndex {
  private readonly groups = new Map<GroupBy, Map<string, Group>>(GROUP_BY.map((g) => [g, new Map()]));
  /**
   * Entries by queue id: the entry itself, or a list when the message has mail for more
   * than one domain (a list for every message cost 56 bytes more each: 5.6 MB at 100 000).
   */
  private readonly byId = new Map<string, Entry | Entry[]>();
  private count = 0;
  /** Distinct strings shared at most 50 000 (domains and senders can be many). */
  private readonly shared = new Interner(50_000);

  get size(): number {
    return this.count;
  }

  add(init: EntryInit): Entry {
    const e: Entry = { ...init, domain: this.shared.of(init.domain), sender: this.shared.of(init.sender), cls: this.shared.of(init.cls), campaign: init.campaign === null ? null : this.shared.of(init.campaign), lastReply: init.lastReply === null ? null : this.shared.of(init.lastReply) };
    const had = this.byId.get(e.id);
    if (had === undefined) this.byId.set(e.id, e);
    else if (Array.isArray(had)) had.push(e);
    else this.byId.set(e.id, [had, e]);
    this.count++;
    for (const by of GROUP_BY) this.join(e, by);
    return e;
  }

  /** Changes an entry's fields, moving it between groups and state counts as needed. */
  update(e: Entry, patch: EntryPatch): void {
    const regroup: GroupBy[] = [];
    if (patch.pool !== undefined && patch.pool !== e.pool) regroup.push('pool');
    if (patch.provider !== undefined && patch.provider !== e.provider) regroup.push('provider');
    if (patch.source !== undefined && patch.source !== e.source) regroup.push('source');
    for (const by of GROUP_BY) this.count1(e, by, -1, !regroup.includes(by));
    for (const by of regroup) this.leave(e, by);
    Object.assign(e, patch);
    // 100 000 deferred by one dead MX would otherwise hold 100 000 copies of its reply (8 MB).
    if (patch.lastReply) e.lastReply = this.shared.of(patch.lastReply);
    for (const by of regroup) this.join(e, by);
    for (const by of GROUP_BY) if (!regroup.includes(by)) this.count1(e, by, 1, true);
  }

  remove(e: Entry): void {
    const had = this.byId.get(e.id);
    if (had === undefined) return;
    if (!Array.isArray(had)) {
      if (had !== e) return;
      this.byId.delete(e.id);
    } else {
      const i = had.indexOf(e);
      if (i < 0) return;
      had.splice(i, 1);
      if (had.length === 1) this.byId.set(e.id, had[0] as Entry);
    }
    this.count--;
    for (const by of GROUP_BY) this.leave(e, by);
  }

  entriesOf(id: string): readonly Entry[] {
    return listOf(this.byId.get(id));
  }

  /** Every group of one dimension, largest first. */
  summary(by: GroupBy, now: number): GroupView[] {
    const out: GroupView[] = [];
    for (const g of this.groups.get(by)?.values() ?? []) out.push(view(g, now));
    return out.sort((a, b) => b.recipients - a.recipients || a.key.localeCompare(b.key));
  }

  /** The entries `s` matches, walking only the members of its most selective group. */
  select(s: Selector, state?: QueueState): Entry[] {
    const out: Entry[] = [];
    for (const e of this.candidates(s)) if ((state === undefined || e.state === state) && matches(s, e)) out.push(e);
    return out;
  }

  /** A page of matching entries in queue order, after the entry whose cursor is `after`. */
  page(s: Selector, state: QueueState | undefined, limit: number, after: string | null): { entries: Entry[]; next: string | null } {
    const entries: Entry[] = [];
    let skipping = after !== null;
    for (const e of this.candidates(s)) {
      if (skipping) {
        if (cursorOf(e) === after) skipping = false;
        continue;
      }
      if ((state !== undefined && e.state !== state) || !matches(s, e)) continue;
      if (entries.length === limit) return { entries, next: cursorOf(entries[entries.length - 1] as Entry) };
      entries.push(e);
    }
    return { entries, next: null };
  }

  private *candidates(s: Selector): Iterable<Entry> {
    if (s.queue_id !== undefined) {
      yield* listOf(this.byId.get(s.queue_id));
      return;
    }
    let best: Set<Entry> | null = null;
    for (const [key, by] of Object.entries(SELECTOR_DIM) as [SelectorKey, GroupBy][]) {
      const value = s[key];
      if (value === undefined || !WITH_MEMBERS.has(by)) continue;
      const members = this.groups.get(by)?.get(value)?.members ?? new Set<Entry>();
      if (best === null || members.size < best.size) best = members;
    }
    if (best !== null) {
      // A copy: an action removes entries from the set while it walks them.
      yield* [...best];
      return;
    }
    for (const had of [...this.byId.values()]) {
      if (Array.isArray(had)) yield* had;
      else yield had;
    }
  }

  private join(e: Entry, by: GroupBy): void {
    const groups = this.groups.get(by) as Map<string, Group>;
    const key = keyOf(e, by);
    let g = groups.get(key);
    // Mail of no campaign is no selector's pick (a selector names a campaign): no members for it.
    if (!g) groups.set(key, (g = new Group(key, WITH_MEMBERS.has(by) && !(by === 'campaign' && key === NONE))));
    g.joined(e);
    this.count1(e, by, 1, true);
  }

  private leave(e: Entry, by: GroupBy): void {
    const groups = this.groups.get(by) as Map<string, Group>;
    const key = keyOf(e, by);
    const g = groups.get(key);
    if (!g) return;
    this.count1(e, by, -1, true);
    g.left(e);
    if (g.messages === 0) groups.delete(key);
  }

  private count1(e: Entry, by: GroupBy, sign: 1 | -1, apply: boolean): void {
    if (!apply) return;
    const g = this.groups.get(by)?.get(keyOf(e, by));
    if (!g) return;
    const n = e.rcpts.length * sign;
    g.recipients += n;
    g.byState[e.state] += n;
    if (e.lastReply !== null) {
      const c = (g.replies.get(e.lastReply) ?? 0) + n;
      if (c <= 0) g.replies.delete(e.lastReply);
      else g.replies.set(e.lastReply, c);
    }
  }
}

export function cursorOf(e: Entry): string {
  return `${e.id}/${e.domain}`;
}

function view(g: Group, now: number): GroupView {
  let top: string | null = null;
  let topCount = 0;
  for (const [reply, c] of g.replies) {
    if (c > topCount) {
      top = reply;
      topCount = c;
    }
  }
  const first = g.oldest();
  return {
    key: g.key,
    messages: g.messages,
    recipients: g.recipients,
    ...g.byState,
    oldest_s: first === Infinity ? 0 : Math.max(0, Math.floor((now - first) / 1000)),
    top_reply: top,
  };
}
