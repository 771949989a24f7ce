/**
 * `sluice queue`: look inside the fleet's queues and act on them through a node's admin
 * API (issue 17). `summary`, `list`, `show ID`, `rules`, and the actions `hold`, `lift`
 * (older names, still accepted: `suspend`, `resume`), `retry`, `bounce`, `cancel`,
 * `rebind`, each printing the per-node counts (`--json` prints the API's answer as is).
 */
import { readFile } from 'node:fs/promises';
import { configPath } from '../config/paths.js';
import { loadConfig } from '../config/load.js';
import { SluiceError } from '../errors.js';
import { configFile, parse } from './args.js';

const SELECTORS = ['domain', 'provider', 'campaign', 'sender', 'pool', 'source', 'class', 'queue-id'] as const;
/** The API's actions; `suspend` and `resume` are older names of `hold` and `lift` (README "Words"). */
const ACTIONS = ['hold', 'lift', 'suspend', 'resume', 'retry', 'bounce', 'cancel', 'rebind'];

const USAGE = `Usage: sluice queue <command> [--config FILE] [options]   (default: $SLUICE_CONFIG)

Commands:
  summary [--by provider|domain|source|pool|campaign|class|sender] [--node N]
  list    [selector] [--state ready|deferred|held|scheduled|in_flight] [--limit N] [--after CURSOR] [--node N]
  show ID [--node N]              the message's life on every node it touched (exit 1: a node did not answer)
  rules                           holds and rebinds in force
  hold    [selector] [--duration 30m]   held: stays queued, not attempted (older name: suspend)
  lift    [selector] [--all]      lifts the holds with this selector (older name: resume)
  retry   [selector]
  bounce  [selector] [--all]      each recipient bounced (reason admin), one DSN per message
  cancel  [selector] [--all]      dropped with a cancelled outcome, no DSN
  rebind  [selector] --to-pool P [--duration 2h]

Selector (AND-combined): --domain D --provider P --campaign C --sender S --pool P
  --source S --class C --queue-id ID
Every action takes --dry-run (count only); every command takes --json.
`;

export async function queueCommand(argv: string[]): Promise<number> {
  const args = parse(
    argv,
    {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      by: { type: 'string' },
      node: { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
      duration: { type: 'string' },
      'to-pool': { type: 'string' },
      all: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      ...Object.fromEntries(SELECTORS.map((k) => [k, { type: 'string' as const }])),
    },
    USAGE,
  );
  if (!args) return 0;
  const [cmd, id] = args.positionals;
  if (!cmd) throw new SluiceError('USAGE', `missing command\n\n${USAGE}`);
  const api = await adminApi(configFile(args.values['config'], USAGE));
  const v = args.values as Record<string, string | boolean | undefined>;
  const selector = Object.fromEntries(SELECTORS.filter((k) => typeof v[k] === 'string').map((k) => [k.replace('-', '_'), v[k] as string]));
  const out = (body: unknown, text: string) => process.stdout.write(v['json'] ? `${JSON.stringify(body, null, 2)}\n` : text);
  if (cmd === 'summary') {
    const q = new URLSearchParams({ by: (v['by'] as string | undefined) ?? 'provider', ...(v['node'] ? { node: v['node'] as string } : {}) });
    const body = await api('GET', `/api/queue?${q}`);
    out(body, summaryText(body));
    return 0;
  }
  if (cmd === 'list') {
    const q = new URLSearchParams({ ...selector, ...pick(v, ['state', 'limit', 'after', 'node']) });
    const body = await api('GET', `/api/queue/messages?${q}`);
    const rows = body['messages'] as Record<string, unknown>[];
    out(body, rows.map((r) => `${s(r['node'])} ${s(r['queue_id'])} ${s(r['state'])} ${s(r['sender'], '<>')} -> ${(r['recipients'] as string[]).join(',')} attempts=${s(r['attempts'])} next=${s(r['next_attempt'], '-')} last="${s(r['last_reply'], '')}"`).join('\n') + (body['next'] ? `\nmore: --after ${s(body['next'])}\n` : '\n'));
    return 0;
  }
  if (cmd === 'show') {
    if (!id) throw new SluiceError('USAGE', `show needs a queue id\n\n${USAGE}`);
    const q = new URLSearchParams(v['node'] ? { node: v['node'] as string } : {});
    const body = await api('GET', `/api/messages/${encodeURIComponent(id)}${q.size > 0 ? `?${q}` : ''}`);
    const errors = (body['errors'] as { node: string; error: string }[] | undefined) ?? [];
    out(body, historyText(body['events'] as Record<string, unknown>[]) + errors.map((e) => `no answer from ${e.node}: ${e.error}\n`).join(''));
    return errors.length > 0 ? 1 : 0;
  }
  if (cmd === 'rules') {
    const body = await api('GET', '/api/queue/rules');
    out(body, (body['rules'] as Record<string, unknown>[]).map((r) => `${s(r['id'])} ${s(r['kind'])} ${JSON.stringify(r['selector'])}${r['pool'] ? ` -> ${s(r['pool'])}` : ''} until ${s(r['until'], 'lifted')} by ${s(r['by'])}`).join('\n') + '\n');
    return 0;
  }
  if (!ACTIONS.includes(cmd)) throw new SluiceError('USAGE', `unknown queue command "${cmd}"\n\n${USAGE}`);
  const body = await api('POST', `/api/queue/${cmd}`, {
    selector,
    dry_run: v['dry-run'] === true,
    all: v['all'] === true,
    ...(v['duration'] ? { duration: v['duration'] } : {}),
    ...(v['to-pool'] ? { pool: v['to-pool'] } : {}),
  });
  const nodes = body['nodes'] as { node: string; messages: number; recipients: number; error?: string }[];
  out(body, `${cmd}${body['dry_run'] ? ' (dry run)' : ''}: ${s(body['messages'])} messages, ${s(body['recipients'])} recipients\n${nodes.map((n) => `  ${n.node}: ${n.error ? `ERROR ${n.error}` : `${n.messages} messages, ${n.recipients} recipients`}`).join('\n')}\n`);
  return nodes.some((n) => n.error) ? 1 : 0;
}

/** One line per step: time, node, what happened, then its details. */
function historyText(events: readonly Record<string, unknown>[]): string {
  return events
    .map((e) => {
      const peer = e['peer'] as Record<string, unknown> | undefined;
      const detail =
        e['event'] === 'handed_off'
          ? `${(e['recipients'] as string[]).join(',')} -> ${s(e['to'])} as ${s(e['to_queue_id'], '?')} (source ${s(e['source'])})`
          : `${s(e['recipient'], '')}${peer ? ` from ${s(peer['from'])}/${s(peer['queue_id'])} (${s(peer['how'])})` : ''} ${s(e['source'], '')} ${s(e['mx'], '')} ${s(e['reply'], '')}`;
      return `${s(e['at'])} ${s(e['node'])} ${s(e['queue_id'])} ${s(e['event'])} ${detail}`.trimEnd();
    })
    .join('\n') + '\n';
}

/** A field of an API answer as text ('' or `fallback` when absent or empty). */
function s(v: unknown, fallback = ''): string {
  if (typeof v === 'string') return v === '' ? fallback : v;
  if (typeof v === 'number' || typeof v === 'boolean') return `${v}`;
  return v === null || v === undefined ? fallback : JSON.stringify(v);
}

function pick(v: Record<string, string | boolean | undefined>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => typeof v[k] === 'string').map((k) => [k, v[k] as string]));
}

function summaryText(body: Record<string, unknown>): string {
  const groups = body['groups'] as Record<string, unknown>[];
  const head = `${s(body['by']).padEnd(28)} ${['msgs', 'rcpts', 'ready', 'deferred', 'held', 'sched', 'inflight', 'oldest_s'].map((h) => h.padStart(8)).join(' ')}  top reply`;
  const lines = groups.map((g) => `${s(g['key']).slice(0, 28).padEnd(28)} ${['messages', 'recipients', 'ready', 'deferred', 'held', 'scheduled', 'in_flight', 'oldest_s'].map((k) => s(g[k]).padStart(8)).join(' ')}  ${s(g['top_reply'], '')}`);
  return `${[head, ...lines].join('\n')}\nnodes: ${(body['nodes'] as string[]).join(', ')}\n`;
}

async function adminApi(file: string) {
  const { config, baseDir } = loadConfig(file);
  if (!config.admin) throw new SluiceError('CONFIG_INVALID', `${file}: no [admin] table: sluice queue talks to the node through its admin API (set [admin] listen and token)`);
  const base = `http://${config.admin.listen}`;
  let token = config.admin.token;
  if (token === undefined && config.admin.token_file !== undefined) token = (await readFile(configPath(baseDir, config.admin.token_file), 'utf8')).trim();
  return async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token ?? ''}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new SluiceError('ADMIN_UNREACHABLE', `cannot reach the node's admin API at ${base}: ${(err as Error).message} (is the node running with this config?)`);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const e = json['error'] as { message?: string } | undefined;
      throw new SluiceError('USAGE', `${method} ${path}: ${res.status} ${e?.message ?? res.statusText}`);
    }
    return json;
  };
}
