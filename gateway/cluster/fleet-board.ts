/**
 * The fleet's dashboard numbers: each node publishes its recent outcome stats and queue
 * summary with its heartbeat (NodeInfo.board, in the shared registry), and any node's
 * /api/stats and /api/status sum what the live nodes published. A node's own numbers are
 * always fresh; a peer's are as old as its last heartbeat (seconds).
 */
import { z } from 'zod';
import type { NodeInfo } from '../state/types.js';
import { emptyCounts, outcomeRates, type OutcomeCounts, type StatsReader, type StatsRow, type StatsSnapshot } from '../observe/stats.js';
import { OUTCOME_EVENT_KINDS } from '../plugin-host/public.js';

/** The windows the dashboard offers (1m, 5m, 15m, 1h): each node publishes these. */
export const BOARD_WINDOWS_S = [60, 300, 900, 3600] as const;

export interface QueueRow {
  readonly pool: string;
  readonly provider: string;
  readonly depth: number;
  readonly oldestSeconds: number;
}

export interface NodeBoard {
  readonly v: 1;
  readonly stats: Readonly<Record<string, StatsSnapshot>>;
  readonly queue: readonly QueueRow[];
}

const boardSchema = z.object({
  v: z.literal(1),
  stats: z.record(z.string(), z.unknown()),
  queue: z.array(z.object({ pool: z.string(), provider: z.string(), depth: z.number(), oldestSeconds: z.number() })),
});

export function makeBoard(stats: { snapshot(windowMs: number): StatsSnapshot }, queue: readonly QueueRow[]): NodeBoard {
  const out: Record<string, StatsSnapshot> = {};
  for (const w of BOARD_WINDOWS_S) out[String(w)] = stats.snapshot(w * 1000);
  return { v: 1, stats: out, queue };
}

/** Boards of the live peers (not `self`), ignoring any that do not parse. */
export function peerBoards(nodes: readonly NodeInfo[], self: string): NodeBoard[] {
  const boards: NodeBoard[] = [];
  for (const n of nodes) {
    if (n.id === self) continue;
    const parsed = boardSchema.safeParse(n.board);
    if (parsed.success) boards.push(parsed.data as unknown as NodeBoard);
  }
  return boards;
}

/** /api/stats over the fleet: this node's snapshot plus every live peer's for the same window. */
export class FleetStats implements StatsReader {
  constructor(
    private readonly local: { snapshot(windowMs: number): StatsSnapshot },
    private readonly live: () => Promise<readonly NodeInfo[]>,
    private readonly self: string,
  ) {}

  async snapshot(windowMs: number): Promise<StatsSnapshot> {
    const mine = this.local.snapshot(windowMs);
    let nodes: readonly NodeInfo[];
    try {
      nodes = await this.live();
    } catch {
      return mine; // shared state away: this node's numbers are what we have
    }
    const peers = peerBoards(nodes, this.self)
      .map((b) => b.stats[String(mine.window_s)])
      .filter((s): s is StatsSnapshot => s !== undefined);
    return peers.length === 0 ? mine : mergeSnapshots(mine, peers);
  }
}

export function mergeSnapshots(mine: StatsSnapshot, peers: readonly StatsSnapshot[]): StatsSnapshot {
  const all = [mine, ...peers];
  const totals = emptyCounts();
  for (const s of all) add(totals, s.totals);
  const rows = (pick: (s: StatsSnapshot) => readonly StatsRow[]): StatsRow[] => {
    const by = new Map<string, OutcomeCounts>();
    for (const s of all) {
      for (const r of pick(s)) {
        const sum = by.get(r.key) ?? emptyCounts();
        add(sum, r);
        by.set(r.key, sum);
      }
    }
    return [...by].map(([key, c]) => ({ key, ...c, ...outcomeRates(c) })).sort((a, b) => a.key.localeCompare(b.key));
  };
  // Series: add a peer's point where its step and second line up with ours.
  const series = { ...mine.series } as Record<string, unknown> & StatsSnapshot['series'];
  const index = new Map(mine.series.t.map((t, i) => [t, i]));
  for (const kind of OUTCOME_EVENT_KINDS) {
    const sum = [...mine.series[kind]];
    for (const p of peers) {
      if (p.series.step_s !== mine.series.step_s) continue;
      p.series.t.forEach((t, i) => {
        const j = index.get(t);
        if (j !== undefined) sum[j] = (sum[j] ?? 0) + (p.series[kind][i] ?? 0);
      });
    }
    series[kind] = sum;
  }
  return {
    ...mine,
    node: `fleet (${all.length} nodes)`,
    totals: { ...totals, ...outcomeRates(totals) },
    by_source: rows((s) => s.by_source),
    by_provider: rows((s) => s.by_provider),
    by_pool: rows((s) => s.by_pool),
    series,
  };
}

function add(sum: OutcomeCounts, c: Partial<OutcomeCounts>): void {
  for (const kind of OUTCOME_EVENT_KINDS) sum[kind] += c[kind] ?? 0;
}
