/**
 * `sluice route --explain`: how a message from A to B would be routed now — the class,
 * the rule, the pool, the provider (and the MX hosts that decided it), the limits, and
 * each candidate source with why it is or is not usable now (holds, warm-up, health,
 * connections in use), then the overflow pool and what would happen.
 */
import { join } from 'node:path';
import { configPath } from '../config/paths.js';
import type { Config, RouteConfig } from '../config/schema.js';
import { createState, type ManagedState } from '../state/create.js';
import { systemClock, type Rate } from '../state/types.js';
import { formatRate, rateGuarantee } from '../config/rate-text.js';
import { MxResolver } from '../delivery/mx-resolver.js';
import { formatResponse } from '../delivery/response.js';
import { ProviderTable, type ProviderLimits } from '../shaping/providers.js';
import { Router, domainOf, type RouteDecision } from '../routing/router.js';
import { HoldCache } from '../shaping/hold-cache.js';
import { WarmupGate } from '../shaping/warmup-gate.js';
import { SourcePicker, type MemberView } from '../routing/source-picker.js';
import { formatDuration } from '../config/units.js';
import { SluiceError } from '../errors.js';
import { configSchema as classifySchema } from '../../plugins/classify/config.js';
import { compileRules } from '../../plugins/classify/rules.js';
import { configFile as cfgFile, loadForCli, parse, required } from './args.js';

const USAGE = `Usage: sluice route --explain --config FILE --from SENDER --to RECIPIENT [--header "Name: value"]... [--class C] [--user AUTHUSER] [--client IP]

Prints the route a message would take now: its class ([[classify.rules]] replayed on the
--header values, --from, --to, --user and --client, unless --class is given), the
[[routes]] rule, the pool, the provider and the MX hosts that decided it, the limits, and
every candidate source with why it is or is not usable now.
`;

interface Classified {
  readonly class: string;
  readonly pool: string | null;
  readonly priority: number | null;
  readonly why: string;
}

interface Input {
  readonly from: string;
  readonly to: string;
  readonly user: string | null;
  readonly client: string;
  readonly headers: ReadonlyMap<string, string[]>;
}

export async function routeCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { explain: { type: 'boolean' }, config: { type: 'string', short: 'c' }, from: { type: 'string' }, to: { type: 'string' }, header: { type: 'string', multiple: true }, class: { type: 'string' }, user: { type: 'string' }, client: { type: 'string' } }, USAGE);
  if (!args) return 0;
  if (!args.values.explain) throw new SluiceError('USAGE', `route needs --explain\n\n${USAGE}`);
  const loaded = loadForCli(cfgFile(args.values.config, USAGE));
  const config = loaded.config;
  const headers = new Map<string, string[]>();
  for (const h of (args.values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new SluiceError('USAGE', `--header "${h}" is not "Name: value"`);
    const name = h.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), h.slice(i + 1).trim()]);
  }
  const input: Input = {
    from: required(args.values.from, '--from', USAGE),
    to: required(args.values.to, '--to', USAGE),
    user: (args.values.user as string | undefined) ?? null,
    client: (args.values.client as string | undefined) ?? '127.0.0.1',
    headers,
  };
  const given = args.values.class as string | undefined;
  const klass = given !== undefined ? { class: given, pool: null, priority: null, why: '--class' } : classify(config, input);
  const dataDir = configPath(loaded.baseDir, config.node.data_dir);
  const state = await createState({ dataDir: join(dataDir, 'state'), clock: systemClock, connectWaitMs: 1_500, ...(config.cluster ? { redisUrl: config.cluster.redis_url, redisPrefix: config.cluster.key_prefix, commandTimeoutMs: Math.max(1_000, config.cluster.command_timeout) } : {}) });
  try {
    const out = await explain(config, state, input, klass);
    process.stdout.write(`${out.lines.join('\n')}\n`);
    return out.code;
  } finally {
    await state.close();
  }
}

async function explain(config: Config, state: ManagedState, input: Input, klass: Classified): Promise<{ lines: string[]; code: number }> {
  const out: string[] = [];
  const line = (label: string, text: string) => out.push(`${label.padEnd(13)} ${text}`);
  const domain = domainOf(input.to);
  const resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock: systemClock });
  const route = await resolver.resolve(domain);
  line('recipient', input.to);
  line('domain', domain);
  if (route.kind === 'failed') {
    line('route', `none: ${formatResponse(route.response)} (${route.response.code >= 500 ? 'bounces' : 'deferred, retried'})`);
    return { lines: out, code: 1 };
  }
  line('mx', route.hosts.map((h) => `${h.name} (pref ${h.priority}) [${h.addresses.join(', ') || 'resolved at connect'}]:${h.port}`).join('; '));
  const providers = new ProviderTable(config);
  const limits = providers.limits(domain, route.mxNames, route.site);
  line('provider', providerWhy(config, providers.match(domain, route.mxNames), domain, route.mxNames, route.site));
  line('class', `${klass.class} (${klass.why})`);
  const router = new Router(config);
  const routeHeaders = Object.fromEntries([...input.headers].map(([k, v]) => [k, v[0] ?? '']));
  const d = router.decide({ envelope: { class: klass.class, mailFrom: input.from, authUser: input.user, routeHeaders, pool: klass.pool, priority: klass.priority }, domain, provider: limits.name });
  line('rule', ruleWhy(config, d));
  const pool = config.pools[d.pool];
  line('pool', `${d.pool} (priority ${d.priority}${pool?.overflow ? `, overflow ${pool.overflow}` : ''}${pool?.health ? ', health checked' : ''})`);
  line('limits', `per source: ${limits.maxConnections} connections, ${rate(limits.maxMessageRate)}, ${limits.maxMessagesPerConnection} messages/connection, connect_timeout ${formatDuration(limits.connectTimeoutMs)}, idle_timeout ${formatDuration(limits.idleTimeoutMs)}`);
  if (limits.maxMessageRate) line('rate', `per source, all nodes together: ${rateGuarantee(limits.maxMessageRate)}`);
  if (limits.totalMaxConnections !== null || limits.totalMaxMessageRate) line('fleet total', `${limits.totalMaxConnections ?? 'no limit on'} connections, ${rate(limits.totalMaxMessageRate)} (all sources, all nodes)`);
  if (limits.totalMaxMessageRate) line('fleet rate', `all sources, all nodes together: ${rateGuarantee(limits.totalMaxMessageRate)}`);
  if (limits.rules.length > 0) line('rules', limits.rules.map((r) => `${r.match} → ${r.action}${r.duration ? ` ${formatDuration(r.duration)}` : ''}`).join('; '));
  line('state', stateWhy(state));

  const holds = new HoldCache(state, systemClock, () => undefined);
  await holds.refresh();
  const warmup = new WarmupGate(config, state, systemClock);
  const picker = new SourcePicker(config, state, holds, warmup, config.node.id, config.node.hostname ?? 'localhost', systemClock);
  const shared = state.kind === 'redis' && !state.degraded();
  let chain = [d.pool];
  let verdict = '';
  for (let p: string | undefined = d.pool; p !== undefined; p = config.pools[p]?.overflow) {
    if (p !== d.pool) {
      if (chain.includes(p)) break;
      chain = [...chain, p];
    }
    const members = await withWarmup(picker.describe(p, limits), warmup);
    out.push(`sources of pool ${p}${p === d.pool ? '' : ' (overflow: used when every source above is at its warm-up cap or held)'}`);
    for (const m of members) out.push(await sourceLine({ config, state, warmup, picker, limits, shared }, p, m));
    const local = members.filter((m) => m.status.kind !== 'elsewhere');
    if (local.some((m) => m.status.kind === 'usable')) {
      verdict = `sends from pool ${p}: ${local.filter((m) => m.status.kind === 'usable').map((m) => m.source.name).join(', ')} (by weight, when a connection and a rate token are free)`;
      break;
    }
    if (local.length === 0) {
      verdict = `waits: no source of pool ${p} lives on node ${config.node.id}`;
      break;
    }
    const capped = local.every((m) => m.status.kind === 'capped');
    verdict = capped
      ? `waits until ${new Date(warmup.nextDayAt()).toISOString()} (deferred, never bounced): every source of pool ${p} is at its warm-up cap${config.pools[p]?.overflow ? '' : ' and it has no overflow'}`
      : `waits: every source of pool ${p} is at its warm-up cap or held`;
  }
  line('now', verdict);
  return { lines: out, code: 0 };
}

/**
 * A running node learns that a source is at its cap when a take fails; here the counts
 * tell: a source whose budget for today is used up is shown (and judged) as capped.
 */
async function withWarmup(members: MemberView[], warmup: WarmupGate): Promise<MemberView[]> {
  return Promise.all(
    members.map(async (m) => {
      const cap = warmup.cap(m.source.name);
      if (m.status.kind !== 'usable' || cap === null) return m;
      const used = await warmup.used(m.source.name).catch(() => 0);
      return used >= cap ? { ...m, status: { kind: 'capped' as const, why: `${m.source.name} reached its warm-up cap for today (${used}/${cap})` } } : m;
    }),
  );
}

interface SourceContext {
  readonly config: Config;
  readonly state: ManagedState;
  readonly warmup: WarmupGate;
  readonly picker: SourcePicker;
  readonly limits: ProviderLimits;
  /** Connections in use are worth asking for: Redis answers (embedded counts live in the node). */
  readonly shared: boolean;
}

async function sourceLine(ctx: SourceContext, pool: string, m: MemberView): Promise<string> {
  const { config, state, warmup, limits } = ctx;
  const name = m.source.name;
  const notes: string[] = [];
  const cap = warmup.cap(name);
  if (cap !== null) {
    const used = await warmup.used(name).catch(() => null);
    notes.push(`warm-up ${used ?? '?'}/${cap} today`);
  }
  if (ctx.shared) {
    // claims() lists the per-source lease, then the fleet total's only when the provider has one.
    const [mine, fleet] = await Promise.all(ctx.picker.claims(name, limits).map((c) => state.throttle.leaseCount(c.key).catch(() => null)));
    const total = limits.totalMaxConnections === null ? '' : ` (fleet ${fleet ?? '?'}/${limits.totalMaxConnections})`;
    notes.push(`${mine ?? '?'}/${limits.maxConnections} connections in use${total}`);
  }
  const health = config.pools[pool]?.health;
  const window = health?.window ?? 3_600_000;
  const c = await state.health.counts(name, limits.name, window).catch(() => null);
  if (c) {
    const total = c.delivered + c.deferred + c.bounced;
    const pct = (n: number) => (total === 0 ? '0%' : `${Math.round((n / total) * 1000) / 10}%`);
    notes.push(`last ${formatDuration(window)}: ${total} outcomes, ${pct(c.bounced)} bounced, ${pct(c.deferred)} deferred${health ? ` (limits ${health.max_bounce_rate * 100}%/${health.max_deferral_rate * 100}% from ${health.min_volume})` : ''}`);
  }
  const ok = m.status.kind === 'usable';
  const why = m.status.kind === 'usable' ? 'usable' : m.status.why;
  return `  ${ok ? 'yes' : 'no '} ${name.padEnd(12)} ${String(m.source.ip ?? 'os default').padEnd(16)} ehlo ${m.source.ehlo}  weight ${m.weight}  ${why}${notes.length ? `\n      ${notes.join('; ')}` : ''}`;
}

/** Replays [[classify.rules]] on what the command line gives, as the classify plugin does at DATA. */
function classify(config: Config, input: Input): Classified {
  // As node.ts runs it: listed in [plugins] order, or no order and a [classify] table.
  const order = config.plugins.order;
  const runs = order.length > 0 ? order.includes('classify') : config.classify !== undefined;
  if (!runs) return { class: 'transactional', pool: null, priority: null, why: 'the classify plugin is not enabled: every message is "transactional"' };
  const parsed = classifySchema.safeParse(config.classify ?? {});
  if (!parsed.success) return { class: 'transactional', pool: null, priority: null, why: '[classify] is not valid: default "transactional"' };
  const rules = compileRules(parsed.data.rules);
  const rule = rules.find((r) => r.matches({ mailFrom: input.from, rcpts: [input.to], authUser: input.user, remoteAddress: input.client, header: (name) => input.headers.get(name.toLowerCase()) ?? [] }));
  if (!rule) return { class: parsed.data.default, pool: null, priority: null, why: `[classify] default; no [[classify.rules]] matched` };
  return { class: rule.class, pool: rule.pool, priority: rule.priority, why: `classify.rules[${rule.index}] matched${rule.pool ? `, pins pool ${rule.pool}` : ''}` };
}

function providerWhy(config: Config, matched: string | null, domain: string, mxNames: readonly string[], site: string): string {
  if (matched === null) return `default: no [providers.X] matched ${mxNames.join(', ')}; limits are per site "${site}"`;
  const p = config.providers[matched];
  if (p?.domains.some((x) => x.toLowerCase() === domain)) return `${matched}: ${domain} is in [providers.${matched}] domains`;
  const by = mxNames.map((mx) => `${mx} ends in "${p?.mx_suffixes.find((s) => mx.toLowerCase().endsWith(s.toLowerCase().replace(/^\./, ''))) ?? '?'}"`);
  return `${matched}: every MX host matches [providers.${matched}] mx_suffixes (${by.join(', ')})`;
}

function ruleWhy(config: Config, d: RouteDecision): string {
  if (d.rule === null) return `${d.why} → pool ${d.pool}`;
  const r = config.routes[d.rule] as RouteConfig;
  const fields = Object.entries(r)
    .filter(([k]) => k !== 'pool' && k !== 'priority')
    .map(([k, v]) => `${k} = ${typeof v === 'string' ? `"${v}"` : JSON.stringify(v)}`);
  return `routes[${d.rule}] (${fields.join(', ') || 'matches everything'}) → pool ${d.pool}`;
}

function stateWhy(state: ManagedState): string {
  if (state.kind === 'embedded') return 'embedded: holds, warm-up and health from the data dir; connections in use are known only to the running node';
  if (state.degraded()) return 'redis UNREACHABLE: holds, warm-up and health below may be missing; a node delivers within its own share of each limit';
  return 'redis: shared by every node';
}

function rate(r: Rate | null): string {
  return r ? formatRate(r) : 'no rate limit';
}
