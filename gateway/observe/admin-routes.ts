/**
 * The admin API's routes: each validates its input with zod, asks the AdminControl (or
 * the metrics registry, stats, alerts), and answers a JSON body. The server
 * (admin-server.ts) owns HTTP, auth, body limits, error mapping and logging.
 */
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { isName, NAME_RULE } from '../config/names.js';
import { parseDuration } from '../config/units.js';
import type { AlertView } from './event-types.js';
import type { Actor, AdminControl } from './admin-control.js';
import type { StatsReader } from './stats.js';
import type { QueueRoutes } from './queue-routes.js';

export interface RouteDeps {
  readonly control: AdminControl;
  readonly registry: Registry;
  readonly stats: StatsReader;
  /** The longest /api/stats window the stats can answer, in ms. */
  readonly statsSpanMs: number;
  readonly alerts: { active(): readonly AlertView[]; recent(): readonly AlertView[] };
  /** Queue inspection and actions (issue 17). */
  readonly queue?: QueueRoutes;
}

export interface RouteCtx {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
  readonly by: Actor;
}

export type Reply =
  | { readonly status?: number; readonly json: unknown }
  | { readonly status?: number; readonly text: string; readonly type: string };

export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly pattern: string;
  readonly regex: RegExp;
  readonly params: readonly string[];
  /** Changes something: logged at info with who asked. */
  readonly mutates: boolean;
  readonly handle: (ctx: RouteCtx, deps: RouteDeps) => Promise<Reply>;
}

/** A request the server answers with 400 and this message. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
}

const duration = (max: number, what: string) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
    if (ms === null || !(ms > 0) || ms > max) {
      ctx.addIssue({ code: 'custom', message: `${what}: a duration such as "30m" or seconds, at most ${max / 1000}s` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A lower-cased address or `@domain` (as the suppression list keeps them). Control
 * characters (NUL, tabs, line breaks) are in no address (RFC 5321 §4.1.2) and would
 * split the embedded list's log records: refused here with a 400, not a 500 from the store.
 */
const address = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^\s@<>\u0000-\u001f\u007f]*@[^\s@<>\u0000-\u001f\u007f]+$/, 'expected user@domain or @domain, without spaces or control characters');

/** Source, pool and provider names: the config's allow-list (config/names.ts). */
const name = z.string().refine(isName, NAME_RULE);
const reason = z.string().trim().min(1).max(200);

/** The longest hold of a source toward one provider the API sets (a week). */
const MAX_HOLD_MS = 7 * 86_400_000;

const bodies = {
  /** A hold of a pool, or of a source by the older route `/pause`. */
  hold: z.object({ reason: reason.optional() }).strict(),
  none: z.object({}).strict(),
  drain: z.object({ handoff: z.boolean().optional() }).strict(),
  /** The older route `/suspend`: a hold toward one provider, both required. */
  holdToward: z.object({ provider: name, duration: duration(MAX_HOLD_MS, 'duration'), reason: reason.optional() }).strict(),
  /** A hold of a source: until lifted, or toward one `provider` for a `duration`. */
  holdSource: z.object({ provider: name.optional(), duration: duration(MAX_HOLD_MS, 'duration').optional(), reason: reason.optional() }).strict(),
  suppress: z
    .object({
      address,
      reason: z.enum(['unsubscribe', 'hard-bounce', 'complaint', 'manual']).default('manual'),
    })
    .strict(),
  unsuppress: z.object({ address }).strict(),
};

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new BadRequest(`${what}: ${issues.join('; ')}`);
}

const json = (body: unknown, status = 200): Reply => ({ status, json: body });

function route(
  method: Route['method'],
  pattern: string,
  handle: Route['handle'],
  mutates = method !== 'GET',
): Route {
  const params: string[] = [];
  const source = pattern.replace(/:([a-z]+)/g, (_, p: string) => {
    params.push(p);
    return '([^/]+)';
  });
  return { method, pattern, regex: new RegExp(`^${source}$`), params, mutates, handle };
}

export const ROUTES: readonly Route[] = [
  route('GET', '/metrics', async (_, d) => ({ text: await d.registry.metrics(), type: d.registry.contentType })),
  route('GET', '/api/status', async (_, d) => json(await d.control.status())),
  route('GET', '/api/sources', async (_, d) => json({ sources: await d.control.sources() })),
  route('GET', '/api/providers', async (_, d) => json({ providers: await d.control.providers() })),
  route('GET', '/api/stats', async (ctx, d) => {
    const q = parse(
      z.object({ window: duration(d.statsSpanMs, 'window').default(300_000) }).strict(),
      Object.fromEntries(ctx.query),
      'query',
    );
    return json(await d.stats.snapshot(q.window));
  }),
  route('GET', '/api/alerts', async (_, d) => json({ active: d.alerts.active(), recent: d.alerts.recent() })),
  // Held mail (README "Words"): hold and lift a source, a source toward one provider, or a
  // pool. The older routes below (pause, resume, suspend) do the same and stay as aliases,
  // answering "paused" beside "held".
  route('POST', '/api/sources/:name/hold', async (ctx, d) => {
    const b = parse(bodies.holdSource, ctx.body, 'body');
    const source = nameParam(ctx, 'source');
    if (b.provider === undefined) {
      if (b.duration !== undefined) throw new BadRequest('body: duration: a hold of the whole source lasts until lifted; give "provider" to hold it toward one provider for a time');
      await d.control.holdSource(source, b.reason ?? 'admin', ctx.by);
      return json({ ok: true, source, held: true });
    }
    if (b.duration === undefined) throw new BadRequest('body: duration: a hold toward one provider needs a duration such as "30m"');
    await d.control.holdSourceToward(source, b.provider, b.duration, b.reason ?? 'held by an operator', ctx.by);
    return json({ ok: true, source, provider: b.provider, held: true, duration_s: b.duration / 1000 });
  }),
  route('POST', '/api/sources/:name/lift', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    const source = nameParam(ctx, 'source');
    await d.control.liftSource(source, ctx.by);
    return json({ ok: true, source, held: false });
  }),
  route('POST', '/api/pools/:name/hold', async (ctx, d) => {
    const b = parse(bodies.hold, ctx.body, 'body');
    const pool = nameParam(ctx, 'pool');
    await d.control.holdPool(pool, b.reason ?? 'admin', ctx.by);
    return json({ ok: true, pool, held: true });
  }),
  route('POST', '/api/pools/:name/lift', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    const pool = nameParam(ctx, 'pool');
    await d.control.liftPool(pool, ctx.by);
    return json({ ok: true, pool, held: false });
  }),
  route('POST', '/api/sources/:name/pause', async (ctx, d) => {
    const b = parse(bodies.hold, ctx.body, 'body');
    const source = nameParam(ctx, 'source');
    await d.control.holdSource(source, b.reason ?? 'admin', ctx.by);
    return json({ ok: true, source, held: true, paused: true });
  }),
  route('POST', '/api/sources/:name/resume', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    const source = nameParam(ctx, 'source');
    await d.control.liftSource(source, ctx.by);
    return json({ ok: true, source, held: false, paused: false });
  }),
  route('POST', '/api/pools/:name/pause', async (ctx, d) => {
    const b = parse(bodies.hold, ctx.body, 'body');
    const pool = nameParam(ctx, 'pool');
    await d.control.holdPool(pool, b.reason ?? 'admin', ctx.by);
    return json({ ok: true, pool, held: true, paused: true });
  }),
  route('POST', '/api/pools/:name/resume', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    const pool = nameParam(ctx, 'pool');
    await d.control.liftPool(pool, ctx.by);
    return json({ ok: true, pool, held: false, paused: false });
  }),
  route('POST', '/api/sources/:name/suspend', async (ctx, d) => {
    const b = parse(bodies.holdToward, ctx.body, 'body');
    const source = nameParam(ctx, 'source');
    await d.control.holdSourceToward(source, b.provider, b.duration, b.reason ?? 'suspended by an operator', ctx.by);
    return json({ ok: true, source, provider: b.provider, held: true, duration_s: b.duration / 1000 });
  }),
  route('POST', '/api/queue/flush', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    return json({ ok: true, ...(await d.control.flushQueue(ctx.by)) });
  }),
  route('GET', '/api/queue', (ctx, d) => queueCall(d, (q) => q.summary(ctx.query))),
  route('GET', '/api/queue/messages', (ctx, d) => queueCall(d, (q) => q.messages(ctx.query))),
  route('GET', '/api/queue/rules', (_, d) => queueCall(d, (q) => q.rules())),
  route('GET', '/api/messages/:id', (ctx, d) => queueCall(d, (q) => q.message(param(ctx, 'id'), ctx.query))),
  route('POST', '/api/queue/:action', (ctx, d) => queueCall(d, (q) => q.act(param(ctx, 'action'), ctx.body, ctx.by))),
  route('POST', '/api/suppression', async (ctx, d) => {
    const b = parse(bodies.suppress, ctx.body, 'body');
    const added = await d.control.addSuppression(b.address, b.reason, ctx.by);
    return json({ ok: true, address: b.address, reason: b.reason, added });
  }),
  route('POST', '/api/suppression/remove', unsuppress),
  route('DELETE', '/api/suppression/remove', unsuppress),
  route('DELETE', '/api/suppression/:address', (ctx, d) => unsuppress({ ...ctx, body: { address: param(ctx, 'address') } }, d)),
  route('GET', '/api/suppression/:address', async (ctx, d) => {
    const addr = parse(address, param(ctx, 'address'), 'address');
    const entry = await d.control.checkSuppression(addr);
    return json({ address: addr, suppressed: entry !== null, entry });
  }),
  route('POST', '/api/reload', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    return json({ ok: true, ...(await d.control.reload(ctx.by)) });
  }),
  route('POST', '/api/drain', async (ctx, d) => {
    const body = parse(bodies.drain, ctx.body, 'body');
    return json({ ok: true, ...(await d.control.drain(ctx.by, body.handoff === true)) });
  }),
  route('POST', '/api/drain/cancel', async (ctx, d) => {
    parse(bodies.none, ctx.body, 'body');
    return json({ ok: true, ...(await d.control.undrain(ctx.by)) });
  }),
];

async function queueCall(d: RouteDeps, fn: (q: QueueRoutes) => Promise<unknown>): Promise<Reply> {
  if (!d.queue) throw new BadRequest('queue control is not available on this node');
  return json(await fn(d.queue));
}

async function unsuppress(ctx: RouteCtx, d: RouteDeps): Promise<Reply> {
  const b = parse(bodies.unsuppress, ctx.body, 'body');
  const removed = await d.control.removeSuppression(b.address, ctx.by);
  return json({ ok: true, address: b.address, removed });
}

function param(ctx: RouteCtx, key: string): string {
  const value = ctx.params[key];
  if (value === undefined || value === '' || value.length > 254) throw new BadRequest(`bad ${key} in the path`);
  return value;
}

/** A source or pool name from the path, checked against the config's allow-list. */
function nameParam(ctx: RouteCtx, what: 'source' | 'pool'): string {
  const value = param(ctx, 'name');
  if (!isName(value)) throw new BadRequest(`bad ${what} name ${JSON.stringify(value.slice(0, 64))}: ${NAME_RULE}`);
  return value;
}
