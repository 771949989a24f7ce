/**
 * The config schema (DESIGN.md "Config"). Every key, its default and its unit live here;
 * unknown keys are errors. Names stay snake_case from file to type.
 */
import { z } from 'zod';
import { parseDuration, parseRate, parseSize } from './units.js';

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write e.g. "30s", "10m", "1h", "5d"` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  const bytes = typeof v === 'number' ? v : parseSize(v);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a size; write e.g. "25MB", "200KB"` });
    return z.NEVER;
  }
  return bytes;
});

const rate = z.string().transform((text, ctx) => {
  const r = parseRate(text);
  if (r === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a rate; write e.g. "50/s", "1000/m", "20000/h"` });
    return z.NEVER;
  }
  return r;
});

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected "host:port", e.g. "127.0.0.1:2525"');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'names use letters, digits, "-", "_" and "."');
const port = z.number().int().min(0).max(65535);

const node = z.strictObject({
  id: name.default('sluice'),
  data_dir: z.string().default('./data'),
  /** Reload when a config file changes (besides SIGHUP). */
  watch_config: z.boolean().default(false),
  /** How long SIGTERM waits for sessions and deliveries in flight. */
  drain_timeout: duration.default(30_000),
  /** Below this much free space in data_dir (less what is being written), MAIL FROM answers 452 4.3.1. */
  min_free_disk: size.default(100 * 1024 * 1024),
  /** The name in the banner and the Received header; default: the OS hostname. */
  hostname: z.string().optional(),
});

const cluster = z.strictObject({
  redis_url: z.string().regex(/^rediss?:\/\//, 'expected "redis://host:port/db"'),
  failover_after: duration.default(10_000),
  heartbeat: duration.default(2_000),
  command_timeout: duration.default(500),
  key_prefix: z.string().default('sluice:'),
});

const listen = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port,
  mode: z.enum(['relay', 'submission']),
  tls: z.enum(['starttls', 'implicit', 'none']).default('starttls'),
  proxy: z.boolean().default(false),
  max_connections: z.number().int().positive().default(1000),
  /** Idle time allowed between commands. */
  socket_timeout: duration.default(60_000),
  /** Take mail for [feedback] addresses from any client; default: true on relay listeners, false on submission. */
  feedback: z.boolean().optional(),
});

const relay = z.strictObject({
  networks: z.array(z.string()).default(['127.0.0.0/8', '::1/128']),
  max_message_size: size.default(25 * 1024 * 1024),
  max_recipients: z.number().int().positive().default(1000),
  bare_line_endings: z.enum(['normalize', 'reject']).default('normalize'),
  /** AUTH failures allowed on one session before it is closed. */
  max_auth_failures: z.number().int().positive().default(3),
  /** Failures from one client address within auth_failure_window before its AUTH is slowed. */
  auth_failure_limit: z.number().int().positive().default(10),
  auth_failure_window: duration.default(600_000),
});

const user = z.strictObject({ name: z.string().min(1), password_hash: z.string().startsWith('scrypt$', 'expected a hash from "sluice hash-password"') });

const tls = z.strictObject({ cert: z.string(), key: z.string() });

const dns = z.strictObject({
  servers: z.array(z.string()).optional(),
  static: z.record(z.string(), hostPort).default({}),
  timeout: duration.default(5_000),
  /** Upper bound on how long an MX answer is cached, whatever its TTL. */
  max_cache_ttl: duration.default(3_600_000),
});

const delivery = z.strictObject({
  port: port.default(25),
  connect_timeout: duration.default(30_000),
  /** Socket inactivity allowed during a transaction (RFC 5321 §4.5.3.2 suggests minutes). */
  command_timeout: duration.default(300_000),
  /** How long an idle connection waits for the next message to the same destination. */
  idle_timeout: duration.default(5_000),
  max_messages_per_connection: z.number().int().positive().default(100),
  /** Connections per destination when no provider limit applies. */
  max_connections_per_destination: z.number().int().positive().default(10),
  max_connections: z.number().int().positive().default(500),
  tls: z.enum(['opportunistic', 'required', 'none']).default('opportunistic'),
});

const queue = z.strictObject({
  retry: z.array(duration).min(1).default([300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000]),
  max_age: duration.default(5 * 86_400_000),
  /** Every this long in the ready queue raises a message's effective priority by one. */
  ageing: duration.default(60_000),
});

const plugins = z.strictObject({
  order: z.array(z.string().min(1)).default([]),
  timeout: duration.default(5_000),
});

const source = z.strictObject({
  ip: z.string().min(1),
  ehlo: z.string().min(1),
  node: z.string().optional(),
  warmup: z.string().optional(),
});

const poolMember = z.union([name, z.strictObject({ source: name, weight: z.number().int().positive().default(1) })]);

const poolHealth = z.strictObject({
  max_bounce_rate: z.number().min(0).max(1).default(0.1),
  max_deferral_rate: z.number().min(0).max(1).default(0.5),
  max_complaint_rate: z.number().min(0).max(1).default(0.003),
  min_volume: z.number().int().positive().default(50),
  window: duration.default(3_600_000),
  pause_for: duration.default(1_800_000),
});

const pool = z.strictObject({
  sources: z.array(poolMember).min(1),
  priority: z.number().int().min(0).max(99).default(0),
  overflow: name.optional(),
  health: poolHealth.optional(),
});

const headerMatch = z.record(z.string(), z.string());

const route = z.strictObject({
  class: z.string().optional(),
  provider: z.string().optional(),
  sender_domain: z.string().optional(),
  recipient_domain: z.string().optional(),
  auth_user: z.string().optional(),
  header: headerMatch.optional(),
  pool: name,
  priority: z.number().int().min(0).max(99).optional(),
});

const date = z.union([z.date(), z.string().regex(/^\d{4}-\d{2}-\d{2}$/)]).transform((v) => {
  const iso = typeof v === 'string' ? v : v.toISOString().slice(0, 10);
  return iso;
});

const warmup = z.strictObject({
  start: date,
  daily: z.array(z.number().int().positive()).min(1),
});

const responseRule = z.strictObject({
  match: z.string().min(1),
  action: z.enum(['suspend', 'suspend_provider', 'defer', 'bounce']),
  duration: duration.optional(),
});

const provider = z.strictObject({
  mx_suffixes: z.array(z.string()).default([]),
  domains: z.array(z.string()).default([]),
  max_connections: z.number().int().positive().optional(),
  max_message_rate: rate.optional(),
  /** Messages that may leave back to back under max_message_rate (1..its count); absent: evenly spaced with 15 ms of slack (embedded/gcra.ts). */
  max_message_burst: z.number().int().positive().optional(),
  max_messages_per_connection: z.number().int().positive().optional(),
  connect_timeout: duration.optional(),
  idle_timeout: duration.optional(),
  total: z
    .strictObject({
      max_connections: z.number().int().positive().optional(),
      max_message_rate: rate.optional(),
      max_message_burst: z.number().int().positive().optional(),
    })
    .optional(),
  rules: z.array(responseRule).default([]),
});

const admin = z.strictObject({
  listen: hostPort.default('127.0.0.1:8925'),
  token: z.string().min(12, 'use at least 12 characters (e.g. openssl rand -hex 24)').optional(),
  token_file: z.string().optional(),
});

const webhook = z.strictObject({
  url: z.url(),
  events: z.array(z.string()).default(['delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed']),
  secret: z.string().min(16, 'use at least 16 characters: the receiver checks X-Sluice-Signature with it'),
  batch_size: z.number().int().positive().default(100),
  max_backlog: z.number().int().positive().default(10_000),
});

const events = z.strictObject({
  file: z.string().optional(),
  max_size: size.default(100 * 1024 * 1024),
  keep: z.number().int().min(0).default(5),
  webhooks: z.array(webhook).default([]),
});

/** RFC 5965 §7.3 feedback types, plus RFC 6430 not-spam and RFC 6591 auth-failure. */
export const FEEDBACK_TYPES = ['abuse', 'fraud', 'virus', 'other', 'not-spam', 'auth-failure'] as const;

/** [feedback]: ARF complaint reports (RFC 5965) taken in at these addresses; absent: no intake. */
const feedback = z.strictObject({
  addresses: z.array(z.string().min(3)).min(1, 'list at least one address, e.g. ["fbl@feedback.example.com"]'),
  /** Feedback types counted as complaints; the others are logged and counted only. */
  complaint_types: z.array(z.enum(FEEDBACK_TYPES)).default(['abuse', 'fraud']),
  /** Bigger reports get 552 5.3.4 (relay.max_message_size bounds it too). */
  max_message_size: size.default(10 * 1024 * 1024),
  /** Where mail to a feedback address that is not a usable report goes (enrolment confirmations…); absent: logged and discarded. */
  forward_other: z.string().min(3).optional(),
  /** Add X-Sluice-FBL (an encrypted reference to the message) to accepted mail, so reports can be tied back. */
  header: z.boolean().default(true),
  /** Key material for X-Sluice-FBL; every node of a cluster needs the same. Absent on one node: generated in data_dir. */
  secret: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -hex 24)').optional(),
  secret_file: z.string().optional(),
  /**
   * Networks whose reports count without our X-Sluice-FBL reference (matched by our
   * Received id or Source-IP, which anyone can copy). Empty: only reports carrying an
   * authentic reference count.
   */
  trusted_reporters: z.array(z.string()).default([]),
});

const alert = z.strictObject({
  metric: z.enum(['bounce_rate', 'complaint_rate', 'deferral_rate', 'queue_age', 'node_down']),
  scope: z.enum(['source', 'pool', 'provider', 'node']),
  threshold: z.number().nonnegative(),
  window: duration.default(900_000),
  min_volume: z.number().int().nonnegative().default(20),
});

/** Tables owned by a plugin ([dkim], [classify], [suppression], or a user plugin's name). */
export const PLUGIN_TABLES = ['dkim', 'classify', 'suppression'] as const;

export const configSchema = z.strictObject({
  include: z.array(z.string()).default([]),
  node: node.default(node.parse({})),
  cluster: cluster.optional(),
  listen: z.array(listen).default([]),
  relay: relay.default(relay.parse({})),
  users: z.array(user).default([]),
  tls: tls.optional(),
  dns: dns.default(dns.parse({})),
  delivery: delivery.default(delivery.parse({})),
  queue: queue.default(queue.parse({})),
  plugins: plugins.default(plugins.parse({})),
  sources: z.record(name, source).default({}),
  pools: z.record(name, pool).default({}),
  routes: z.array(route).default([]),
  warmup: z.record(name, warmup).default({}),
  providers: z.record(name, provider).default({}),
  admin: admin.optional(),
  events: events.default(events.parse({})),
  alerts: z.array(alert).default([]),
  feedback: feedback.optional(),
  // Plugin tables: checked by each plugin's own configSchema when the plugin host loads it.
  dkim: z.unknown().optional(),
  classify: z.unknown().optional(),
  suppression: z.unknown().optional(),
});

export type Config = z.output<typeof configSchema>;
export type ListenConfig = Config['listen'][number];
export type FeedbackConfig = NonNullable<Config['feedback']>;
export type SourceConfig = Config['sources'][string];
export type PoolConfig = Config['pools'][string];
export type ProviderConfig = Config['providers'][string];
export type RouteConfig = Config['routes'][number];
export type ResponseRuleConfig = ProviderConfig['rules'][number];

export type PoolMember = z.infer<typeof poolMember>;

/** The source a pool member names (`"tx1"` or `{ source = "tx1", weight = 3 }`). */
export function memberSource(m: PoolMember): string {
  return typeof m === 'string' ? m : m.source;
}
