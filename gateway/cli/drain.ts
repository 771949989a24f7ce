/**
 * `sluice drain`: asks a running node, through its admin API, to stop taking new mail
 * and deliver what it has queued (before maintenance); `--cancel` ends the drain;
 * `--wait` polls until the queue is empty or the time is up.
 */
import { readFile } from 'node:fs/promises';
import { configPath } from '../config/paths.js';
import { parseDuration } from '../config/units.js';
import { SluiceError } from '../errors.js';
import { configFile as cfgFile, loadForCli, parse } from './args.js';

const USAGE = `Usage: sluice drain --config FILE [--handoff] [--cancel] [--wait DURATION]

Asks the node running with FILE (through its [admin] listener and token) to drain:
new sessions and transactions get "421 4.3.2 Node draining for maintenance", /readyz
answers 503, transactions in flight finish, and every deferred recipient is retried now.
Mail that still cannot be delivered stays in this node's spool.

  --handoff         also hand every queued message to live peers ([cluster]): each goes
                    to a peer holding a source of its pool, so the node soon holds nothing
                    (mail no live peer can send is delivered from here)
  --cancel          end the drain: the node accepts mail again
  --wait DURATION   then wait until nothing is queued (e.g. "10m"); exit 1 if mail is
                    still queued when the time is up
`;

const POLL_MS = 1_000;

interface DrainState {
  readonly draining: boolean;
  readonly since: string | null;
  readonly queued: number;
  readonly flushed: number;
  readonly handoff?: boolean;
}

export async function drainCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' }, cancel: { type: 'boolean' }, handoff: { type: 'boolean' }, wait: { type: 'string' } }, USAGE);
  if (!args) return 0;
  const configFile = cfgFile(args.values['config'], USAGE);
  const waitText = args.values['wait'] as string | undefined;
  const waitMs = waitText === undefined ? null : parseDuration(waitText);
  if (waitMs === null && waitText !== undefined) throw new SluiceError('USAGE', `--wait "${waitText}" is not a duration such as "90s" or "10m"\n\n${USAGE}`);
  const api = await adminApi(configFile);

  if (args.values['cancel']) {
    const s = await api.post('/api/drain/cancel');
    process.stdout.write(`drain ended: accepting mail again (${s.queued} messages queued)\n`);
    return 0;
  }
  const s = await api.post('/api/drain', args.values['handoff'] ? { handoff: true } : undefined);
  process.stdout.write(`draining since ${s.since}: refusing new mail; ${s.flushed} deferred items retried now, ${s.queued} messages queued${s.handoff ? ', handing them to peers' : ''}\n`);
  if (waitMs === null) return 0;
  const deadline = Date.now() + waitMs;
  let queued = s.queued;
  while (queued > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    queued = (await api.get('/api/status')).queued_here;
  }
  if (queued > 0) {
    process.stdout.write(`still ${queued} messages queued after ${waitText}: they stay in this node's spool (see /api/status and the deferred events)\n`);
    return 1;
  }
  process.stdout.write('queue empty: the node can be stopped\n');
  return 0;
}

async function adminApi(configFile: string) {
  const { config, baseDir } = loadForCli(configFile);
  if (!config.admin) throw new SluiceError('CONFIG_INVALID', `${configFile}: no [admin] table: drain talks to the node through its admin API (set [admin] listen and token)`);
  const base = `http://${config.admin.listen}`;
  let token = config.admin.token;
  if (token === undefined && config.admin.token_file !== undefined) {
    const path = configPath(baseDir, config.admin.token_file);
    token = (await readFile(path, 'utf8')).trim();
  }
  const call = async (method: 'GET' | 'POST', path: string, body?: object) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token ?? ''}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new SluiceError('ADMIN_UNREACHABLE', `cannot reach the node's admin API at ${base}: ${(err as Error).cause ? String((err as Error & { cause: unknown }).cause) : (err as Error).message} (is the node running with this config?)`);
    }
    const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new SluiceError('ADMIN_UNREACHABLE', `${method} ${path}: ${res.status} ${typeof answer['error'] === 'string' ? answer['error'] : res.statusText}`);
    return answer;
  };
  return {
    post: async (path: string, body?: object) => (await call('POST', path, body)) as unknown as DrainState,
    get: async (path: string) => (await call('GET', path)) as unknown as { queued_here: number },
  };
}
