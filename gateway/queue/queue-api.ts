/**
 * What the admin API's queue routes call (issue 17): `GET /api/queue?by=K`,
 * `GET /api/queue/messages`, `GET /api/queue/rules`, `POST /api/queue/ACTION` and
 * `GET /api/messages/ID`. Inputs are checked here (a BadRequest, answered 400, naming
 * what is wrong); the work is the fleet layer's.
 */
import { z } from 'zod';
import { parseDuration } from '../config/units.js';
import { GROUP_BY, QUEUE_STATES, type GroupBy, type QueueState } from './index.js';
import { parseSelector, SelectorError, SELECTOR_KEYS, type Selector } from './selector.js';
import { QUEUE_ACTION_ALIASES, QUEUE_ACTIONS, queueAction, QueueRequestError, type ActionRequest, type QueueAction } from './queue-control.js';
import type { QueueFleet } from './queue-fleet.js';
import type { RuleView } from './rules.js';
import { BadRequest } from '../observe/admin-routes.js';
import type { QueueRoutes } from '../observe/queue-routes.js';

export interface QueueApiDeps {
  readonly fleet: QueueFleet;
  readonly rules: () => RuleView[];
}

const QueueBadRequest = BadRequest;

export class QueueApi implements QueueRoutes {
  constructor(private readonly d: QueueApiDeps) {}

  summary(query: URLSearchParams): Promise<unknown> {
    const { by, node } = parseBy(query);
    return this.d.fleet.summary(by, node);
  }

  messages(query: URLSearchParams): Promise<unknown> {
    const m = parseMessagesQuery(query);
    return this.d.fleet.messages(m.selector, m.state, m.limit, m.after, m.node);
  }

  rules(): Promise<unknown> {
    return Promise.resolve({ rules: this.d.rules() });
  }

  message(id: string, query: URLSearchParams): Promise<unknown> {
    for (const k of query.keys()) if (k !== 'node') throw new QueueBadRequest(`unknown query parameter "${k.slice(0, 40)}" (known: node)`);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new QueueBadRequest(`queue id "${id.slice(0, 40)}" is not a queue id (letters, digits, ".", "_" and "-", as in "250 2.0.0 Ok: queued as <id>")`);
    return this.d.fleet.history(id, query.get('node'));
  }

  /** `name` may be an older name (suspend, resume): the answer's `action` says the name asked. */
  async act(name: string, body: unknown, by: string): Promise<unknown> {
    const { action, req } = parseAction(name, body);
    const answer = await guarded(() => this.d.fleet.act(action, req, by));
    return { ...answer, action: name };
  }
}

const MAX_SCHEDULE_DURATION = 30 * 86_400_000;

const actionBody = z
  .object({
    selector: z.unknown().optional(),
    dry_run: z.boolean().default(false),
    duration: z.union([z.string(), z.number()]).optional(),
    pool: z.string().min(1).max(64).optional(),
    all: z.boolean().default(false),
  })
  .strict();

function parseAction(name: string, body: unknown): { action: QueueAction; req: ActionRequest } {
  const action = queueAction(name);
  if (action === null) throw new QueueBadRequest(`unknown queue action "${name.slice(0, 40)}" (known: ${QUEUE_ACTIONS.join(', ')}; older names: ${Object.keys(QUEUE_ACTION_ALIASES).join(', ')})`);
  const parsed = actionBody.safeParse(body ?? {});
  if (!parsed.success) throw new QueueBadRequest(`body: ${parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`);
  const b = parsed.data;
  let duration: number | null = null;
  if (b.duration !== undefined) {
    const ms = typeof b.duration === 'number' ? b.duration * 1000 : parseDuration(b.duration);
    if (ms === null || !(ms > 0) || ms > MAX_SCHEDULE_DURATION) throw new QueueBadRequest(`duration: ${JSON.stringify(b.duration)} is not a duration such as "30m", "2h" or seconds (at most 30 days)`);
    duration = ms;
  }
  return { action, req: { selector: selectorOf(b.selector), dry_run: b.dry_run, duration, pool: b.pool ?? null, all: b.all } };
}

function selectorOf(input: unknown): Selector {
  try {
    return parseSelector(input);
  } catch (err) {
    if (err instanceof SelectorError) throw new QueueBadRequest(err.message);
    throw err;
  }
}

const QUERY_KEYS = new Set<string>([...SELECTOR_KEYS, 'state', 'limit', 'after', 'node']);

function parseMessagesQuery(q: URLSearchParams): { selector: Selector; state: QueueState | null; limit: number; after: string | null; node: string | null } {
  for (const k of q.keys()) if (!QUERY_KEYS.has(k)) throw new QueueBadRequest(`unknown query parameter "${k.slice(0, 40)}" (known: ${[...QUERY_KEYS].join(', ')})`);
  const sel: Record<string, string> = {};
  for (const k of SELECTOR_KEYS) {
    const v = q.get(k);
    if (v !== null) sel[k] = v;
  }
  const state = q.get('state');
  if (state !== null && !(QUEUE_STATES as readonly string[]).includes(state)) throw new QueueBadRequest(`state: "${state.slice(0, 40)}" is not one of ${QUEUE_STATES.join(', ')}`);
  const limitText = q.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new QueueBadRequest(`limit: expected a whole number from 1 to 1000, got "${limitText.slice(0, 20)}"`);
  return { selector: selectorOf(sel), state: state as QueueState | null, limit, after: q.get('after'), node: q.get('node') };
}

function parseBy(q: URLSearchParams): { by: GroupBy; node: string | null } {
  for (const k of q.keys()) if (k !== 'by' && k !== 'node') throw new QueueBadRequest(`unknown query parameter "${k.slice(0, 40)}" (known: by, node)`);
  const by = q.get('by') ?? 'provider';
  if (!(GROUP_BY as readonly string[]).includes(by)) throw new QueueBadRequest(`by: "${by.slice(0, 40)}" is not one of ${GROUP_BY.join(', ')}`);
  return { by: by as GroupBy, node: q.get('node') };
}

/** Turns the queue layer's refusals into the 400 the admin server answers. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QueueRequestError) throw new QueueBadRequest(err.message);
    throw err;
  }
}
