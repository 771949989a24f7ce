/**
 * `sluice route --explain`: how a message from A to B would be routed now — the rule,
 * class, pool, provider (and the MX that decided it), limits, and each candidate source
 * with why it is or is not usable.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import { createState } from '../state/create.js';
import { systemClock } from '../state/types.js';
import { MxResolver } from '../delivery/mx-resolver.js';
import { formatResponse } from '../delivery/response.js';
import { ProviderTable } from '../shaping/providers.js';
import { Router, domainOf } from '../routing/router.js';
import { HoldCache } from '../shaping/hold-cache.js';
import { WarmupGate } from '../shaping/warmup-gate.js';
import { SourcePicker } from '../routing/source-picker.js';
import { formatDuration } from '../config/units.js';
import { SluiceError } from '../errors.js';
import { parse, required } from './args.js';

const USAGE = `Usage: sluice route --explain --config FILE --from SENDER --to RECIPIENT [--header "Name: value"]... [--class C] [--user AUTHUSER]

Prints the route a message would take now. The class is --class, else [classify] default
(classification by the classify plugin happens at accept time and is not replayed here,
except header rules: pass the headers with --header).
`;

export async function routeCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { explain: { type: 'boolean' }, config: { type: 'string', short: 'c' }, from: { type: 'string' }, to: { type: 'string' }, header: { type: 'string', multiple: true }, class: { type: 'string' }, user: { type: 'string' } }, USAGE);
  if (!args) return 0;
  if (!args.values.explain) throw new SluiceError('USAGE', `route needs --explain\n\n${USAGE}`);
  const loaded = loadConfig(required(args.values.config, '--config', USAGE));
  const config = loaded.config;
  const from = required(args.values.from, '--from', USAGE);
  const to = required(args.values.to, '--to', USAGE);
  const headers: Record<string, string> = {};
  for (const h of (args.values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new SluiceError('USAGE', `--header "${h}" is not "Name: value"`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const classTable = (config.classify ?? {}) as { default?: string };
  const klass = (args.values.class as string | undefined) ?? classTable.default ?? 'transactional';
  const dataDir = isAbsolute(config.node.data_dir) ? config.node.data_dir : resolve(loaded.baseDir, config.node.data_dir);
  const state = await createState({ dataDir: join(dataDir, 'state'), clock: systemClock, ...(config.cluster ? { redisUrl: config.cluster.redis_url, redisPrefix: config.cluster.key_prefix, commandTimeoutMs: Math.max(2000, config.cluster.command_timeout) } : {}) });
  const out: string[] = [];
  try {
    const domain = domainOf(to);
    const resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock: systemClock });
    const route = await resolver.resolve(domain);
    out.push(`recipient     ${to}`, `domain        ${domain}`);
    if (route.kind === 'failed') {
      out.push(`route         none: ${formatResponse(route.response)} (${route.response.code >= 500 ? 'bounces' : 'deferred, retried'})`);
      process.stdout.write(`${out.join('\n')}\n`);
      return 1;
    }
    out.push(`mx            ${route.hosts.map((h) => `${h.name} (pref ${h.priority}) [${h.addresses.join(', ') || 'resolved at connect'}]:${h.port}`).join('; ')}`);
    const providers = new ProviderTable(config);
    const matched = providers.match(domain, route.mxNames);
    const limits = providers.limits(domain, route.mxNames, route.site);
    out.push(`provider      ${limits.name}${matched ? ` (matched ${config.providers[matched]?.domains.includes(domain) ? 'domains list' : `mx_suffixes on ${route.mxNames.join(', ')}`})` : ` (no provider matched: throttled per site ${route.site})`}`);
    const router = new Router(config);
    const d = router.decide({ envelope: { class: klass, mailFrom: from, authUser: (args.values.user as string | undefined) ?? null, routeHeaders: headers, pool: null, priority: null }, domain, provider: limits.name });
    out.push(`class         ${klass}`, `rule          ${d.why}`, `pool          ${d.pool} (priority ${d.priority})`);
    out.push(`limits        per source: ${limits.maxConnections} connections, ${limits.maxMessageRate ? `${limits.maxMessageRate.count}/${formatDuration(limits.maxMessageRate.periodMs)}` : 'no rate limit'}, ${limits.maxMessagesPerConnection} messages/connection`);
    if (limits.totalMaxConnections !== null || limits.totalMaxMessageRate) out.push(`fleet total   ${limits.totalMaxConnections ?? '∞'} connections, ${limits.totalMaxMessageRate ? `${limits.totalMaxMessageRate.count}/${formatDuration(limits.totalMaxMessageRate.periodMs)}` : 'no rate limit'}`);
    const holds = new HoldCache(state, systemClock, () => undefined);
    await holds.refresh();
    const warmup = new WarmupGate(config, state, systemClock);
    const picker = new SourcePicker(config, state, holds, warmup, config.node.id, config.node.hostname ?? 'localhost');
    out.push('sources');
    for (const c of picker.usable(d.pool, limits)) {
      const cap = warmup.cap(c.source.name);
      const used = cap === null ? null : await warmup.used(c.source.name);
      out.push(`  ${c.usable ? 'yes' : 'no '} ${c.source.name.padEnd(12)} ${String(c.source.ip ?? 'os default').padEnd(16)} ehlo ${c.source.ehlo}  ${c.why}${cap === null ? '' : `  (warm-up ${used}/${cap} today)`}`);
    }
    const overflow = config.pools[d.pool]?.overflow;
    if (overflow) out.push(`overflow      ${overflow} (used when every source above is at its warm-up cap or paused)`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await state.close();
  }
}
