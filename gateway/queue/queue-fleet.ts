/**
 * Queue control across the fleet (issue 17): an inspection or an action given to one
 * node is published on a Redis channel; every live node (the node registry's view)
 * applies it to its own queue and answers on a reply channel with its counts. The node
 * that was asked waits for each live node's answer up to `answerTimeoutMs`; a node
 * that dies meanwhile is listed with an error, and the others have applied the action
 * all the same (each node acts on its own as soon as the request reaches it). Without
 * [cluster] the fleet is this node alone.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { NodeRegistry } from '../state/types.js';
import type { GroupBy, GroupView, QueueState } from './index.js';
import type { Selector } from './selector.js';
import { peerActionName, queueAction, type ActionRequest, type MessageRow, type NodeCount, type QueueAction, type QueueControl } from './queue-control.js';
import { mergeHistories, type NodeHistory } from './message-history.js';

type Ask =
  | { readonly op: 'summary'; readonly by: GroupBy }
  | { readonly op: 'messages'; readonly selector: Selector; readonly state: QueueState | null; readonly limit: number; readonly after: string | null }
  /** `action` as peers of every release know it (peerActionName): hold and lift by their older names. */
  | { readonly op: 'act'; readonly action: string; readonly req: ActionRequest; readonly by: string }
  | { readonly op: 'history'; readonly ids: readonly string[] };

interface Envelope {
  readonly rid: string;
  readonly from: string;
  /** Only this node answers; null: every node. */
  readonly to: string | null;
  readonly ask: Ask;
}

interface Answer {
  readonly rid: string;
  readonly node: string;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

export interface QueueFleetOptions {
  readonly local: QueueControl;
  readonly log: Logger;
  /** [cluster]: Redis for the channels and the registry for who is live. */
  readonly cluster?: { readonly redisUrl: string; readonly prefix: string; readonly nodes: Pick<NodeRegistry, 'live'> };
  readonly answerTimeoutMs?: number;
  /** This node's event-log records about a message's queue ids (message-history.ts); absent: none kept. */
  readonly history?: (ids: readonly string[]) => Promise<NodeHistory>;
}

export interface HistoryAnswer {
  readonly queue_id: string;
  /** The message's queue ids on the nodes it went through (the asked one first). */
  readonly ids: string[];
  /** Every node's records about it, in time order; each record names its node. */
  readonly events: Record<string, unknown>[];
  /** The nodes that answered. */
  readonly nodes: string[];
  /** Nodes whose part was cut to HISTORY_MAX_RECORDS records. */
  readonly truncated?: string[];
  readonly errors?: { node: string; error: string }[];
}

export interface SummaryAnswer {
  readonly by: GroupBy;
  readonly groups: GroupView[];
  readonly nodes: string[];
  readonly errors?: { node: string; error: string }[];
}

export interface ActionAnswer {
  readonly action: QueueAction;
  readonly dry_run: boolean;
  readonly messages: number;
  readonly recipients: number;
  readonly nodes: NodeCount[];
}

export class QueueFleet {
  private pub: Redis | null = null;
  private sub: Redis | null = null;
  private readonly waiting = new Map<string, (a: Answer) => void>();

  constructor(private readonly o: QueueFleetOptions) {}

  private get channel(): string {
    return `${this.o.cluster?.prefix ?? ''}queue:ask`;
  }

  private replyChannel(node: string): string {
    return `${this.o.cluster?.prefix ?? ''}queue:answer:${node}`;
  }

  async start(): Promise<void> {
    const c = this.o.cluster;
    if (!c) return;
    const opts = { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true };
    this.pub = new Redis(c.redisUrl, opts);
    // We resubscribe after a reconnect ourselves: ioredis's own resubscribe has no handler,
    // so a connection closed during it (Redis gone, node stopping) was an unhandled rejection.
    const sub = new Redis(c.redisUrl, { ...opts, autoResubscribe: false });
    this.sub = sub;
    for (const r of [this.pub, sub]) r.on('error', (err: unknown) => this.o.log.debug({ err }, 'queue fleet channel: redis error'));
    sub.on('message', (channel: string, text: string) => void this.onMessage(channel, text));
    const subscribe = () => sub.subscribe(this.channel, this.replyChannel(this.o.local.node)).then(() => undefined, (err: unknown) => this.o.log.warn({ err }, 'queue fleet channel: cannot subscribe; queue actions stay on this node'));
    let first = true;
    sub.on('ready', () => {
      if (first) first = false;
      else if (this.sub === sub) void subscribe();
    });
    await subscribe();
  }

  async stop(): Promise<void> {
    const { sub, pub } = this;
    this.sub = null;
    this.pub = null;
    sub?.disconnect();
    pub?.disconnect();
  }

  async summary(by: GroupBy, node: string | null): Promise<SummaryAnswer> {
    const answers = await this.ask({ op: 'summary', by }, node);
    const groups = new Map<string, GroupView & { replies: Map<string, number> }>();
    for (const a of answers) {
      if (!a.ok) continue;
      for (const g of a.value as GroupView[]) merge(groups, g);
    }
    const merged = [...groups.values()].map(({ replies, ...g }) => ({ ...g, top_reply: top(replies) }));
    merged.sort((a, b) => b.recipients - a.recipients || a.key.localeCompare(b.key));
    return { by, groups: merged, nodes: answers.filter((a) => a.ok).map((a) => a.node), ...errorsOf(answers) };
  }

  async messages(selector: Selector, state: QueueState | null, limit: number, after: string | null, node: string | null): Promise<{ messages: MessageRow[]; next: string | null; nodes: string[] }> {
    // Paging across nodes: one node at a time (the cursor names it), in node order.
    const answers = await this.ask({ op: 'messages', selector, state, limit, after: null }, node ?? (after ? (after.split('|')[0] ?? null) : null));
    const rows: MessageRow[] = [];
    let next: string | null = null;
    for (const a of answers.filter((x) => x.ok).sort((x, y) => x.node.localeCompare(y.node))) {
      const v = a.value as { messages: MessageRow[]; next: string | null };
      rows.push(...v.messages);
      if (v.next) next = `${a.node}|${v.next}`;
    }
    if (after !== null) {
      const [n, cursor] = [after.split('|')[0] ?? '', after.split('|').slice(1).join('|')];
      const again = await this.ask({ op: 'messages', selector, state, limit, after: cursor }, n);
      const v = again.find((x) => x.ok)?.value as { messages: MessageRow[]; next: string | null } | undefined;
      return { messages: v?.messages ?? [], next: v?.next ? `${n}|${v.next}` : null, nodes: [n] };
    }
    const ok = answers.filter((a) => a.ok);
    // Several nodes: the first page of each; page further with ?node= (the cursor names it).
    return { messages: rows.slice(0, ok.length === 1 ? limit : rows.length), next: ok.length === 1 ? next : null, nodes: ok.map((a) => a.node) };
  }

  async act(action: QueueAction, req: ActionRequest, by: string): Promise<ActionAnswer> {
    this.o.local.check(action, req);
    const answers = await this.ask({ op: 'act', action: peerActionName(action), req, by }, null);
    const nodes: NodeCount[] = answers.map((a) => (a.ok ? (a.value as NodeCount) : { node: a.node, messages: 0, recipients: 0, error: a.error ?? 'no answer' }));
    return { action, dry_run: req.dry_run, messages: sum(nodes, 'messages'), recipients: sum(nodes, 'recipients'), nodes };
  }

  /**
   * One message's life on every live node (or on `node`): each node searches its event
   * log for the message's ids; ids a node links to them (a handoff's peer id, the id it
   * came from) that were not asked are asked for in a second round, so asking with the
   * id a peer gave it finds the accepting node's part too.
   */
  async history(id: string, node: string | null): Promise<HistoryAnswer> {
    let ids = [id];
    let answers = await this.ask({ op: 'history', ids }, node);
    const found = new Set(answers.flatMap((a) => (a.ok ? (a.value as NodeHistory).ids : [])));
    if ([...found].some((x) => !ids.includes(x))) {
      ids = [id, ...[...found].filter((x) => x !== id)];
      // Only the nodes that answered: one that did not would only make the caller wait again.
      const failed = answers.filter((a) => !a.ok);
      answers = [...(await this.ask({ op: 'history', ids }, node, new Set(answers.filter((a) => a.ok).map((a) => a.node)))), ...failed];
    }
    const ok = answers.filter((a) => a.ok);
    const parts = ok.map((a) => a.value as NodeHistory);
    const allIds = new Set([id, ...parts.flatMap((p) => p.ids)]);
    const truncated = ok.filter((a) => (a.value as NodeHistory).truncated).map((a) => a.node);
    return {
      queue_id: id,
      ids: [...allIds],
      events: mergeHistories(parts),
      nodes: ok.map((a) => a.node).sort(),
      ...(truncated.length > 0 ? { truncated } : {}),
      ...errorsOf(answers),
    };
  }

  /** Applies `ask` here and, clustered, on every live node (or only on `node`; only on those `among` when given). */
  private async ask(ask: Ask, node: string | null, among?: ReadonlySet<string>): Promise<Answer[]> {
    const self = this.o.local.node;
    const c = this.o.cluster;
    const peers = c && this.pub ? (await c.nodes.live().catch(() => [])).map((n) => n.id).filter((id) => id !== self && (node === null || id === node) && (among === undefined || among.has(id))) : [];
    if (node !== null && node !== self && peers.length === 0) return [{ rid: '', node, ok: false, error: 'not a live node' }];
    const rid = randomUUID();
    const pending = peers.length > 0 ? this.collect(rid, peers) : Promise.resolve([]);
    if (peers.length > 0) await (this.pub as Redis).publish(this.channel, JSON.stringify({ rid, from: self, to: node, ask } satisfies Envelope));
    const mine = node === null || node === self ? [await this.answer(rid, ask)] : [];
    return [...mine, ...(await pending)];
  }

  private collect(rid: string, peers: readonly string[]): Promise<Answer[]> {
    return new Promise((resolve) => {
      const got = new Map<string, Answer>();
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(rid);
        resolve(peers.map((p) => got.get(p) ?? { rid, node: p, ok: false, error: 'no answer (node down or unreachable?)' }));
      };
      const timer = setTimeout(done, this.o.answerTimeoutMs ?? 5_000);
      this.waiting.set(rid, (a) => {
        got.set(a.node, a);
        if (peers.every((p) => got.has(p))) done();
      });
    });
  }

  private async answer(rid: string, ask: Ask): Promise<Answer> {
    const local = this.o.local;
    try {
      switch (ask.op) {
        case 'summary':
          return { rid, node: local.node, ok: true, value: local.summary(ask.by) };
        case 'messages':
          return { rid, node: local.node, ok: true, value: local.messages(ask.selector, ask.state ?? undefined, ask.limit, ask.after) };
        case 'act': {
          const action = queueAction(ask.action);
          if (action === null) throw new Error(`unknown queue action "${String(ask.action).slice(0, 40)}" (a node of a later release?)`);
          return { rid, node: local.node, ok: true, value: await local.act(action, ask.req, ask.by) };
        }
        case 'history': {
          const none: NodeHistory = { records: [], ids: [], truncated: false, hops: 0 };
          // From Redis: only strings, and a bounded number of them.
          const ids = Array.isArray(ask.ids) ? ask.ids.filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 64).slice(0, 64) : [];
          return { rid, node: local.node, ok: true, value: this.o.history && ids.length > 0 ? await this.o.history(ids) : none };
        }
      }
    } catch (err) {
      this.o.log.error({ err, op: ask.op }, 'queue request failed on this node');
      return { rid, node: local.node, ok: false, error: (err as Error).message };
    }
  }

  private async onMessage(channel: string, text: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (channel === this.channel) {
      const m = msg as Envelope;
      if (typeof m?.rid !== 'string' || m.from === this.o.local.node || (m.to !== null && m.to !== this.o.local.node)) return;
      const a = await this.answer(m.rid, m.ask);
      await this.pub?.publish(this.replyChannel(m.from), JSON.stringify(a)).catch(() => undefined);
      return;
    }
    const a = msg as Answer;
    if (typeof a?.rid === 'string') this.waiting.get(a.rid)?.(a);
  }
}

function sum(nodes: readonly NodeCount[], k: 'messages' | 'recipients'): number {
  return nodes.reduce((n, x) => n + x[k], 0);
}

function errorsOf(answers: readonly Answer[]): { errors?: { node: string; error: string }[] } {
  const bad = answers.filter((a) => !a.ok).map((a) => ({ node: a.node, error: a.error ?? 'no answer' }));
  return bad.length > 0 ? { errors: bad } : {};
}

/** Sums one node's group into the fleet's; the commonest reply is weighed by recipients. */
function merge(into: Map<string, GroupView & { replies: Map<string, number> }>, g: GroupView): void {
  const cur = into.get(g.key);
  if (!cur) {
    into.set(g.key, { ...g, replies: new Map(g.top_reply ? [[g.top_reply, g.recipients]] : []) });
    return;
  }
  into.set(g.key, {
    key: g.key,
    messages: cur.messages + g.messages,
    recipients: cur.recipients + g.recipients,
    ready: cur.ready + g.ready,
    deferred: cur.deferred + g.deferred,
    held: cur.held + g.held,
    scheduled: cur.scheduled + g.scheduled,
    in_flight: cur.in_flight + g.in_flight,
    oldest_s: Math.max(cur.oldest_s, g.oldest_s),
    top_reply: null,
    replies: g.top_reply ? cur.replies.set(g.top_reply, (cur.replies.get(g.top_reply) ?? 0) + g.recipients) : cur.replies,
  });
}

function top(replies: Map<string, number>): string | null {
  let best: string | null = null;
  let n = 0;
  for (const [r, c] of replies) if (c > n) [best, n] = [r, c];
  return best;
}
