/**
 * The config schema (DESIGN.md "Config"). Every key, its default and its unit live here;
 * unknown keys are errors. Names stay snake_case from file to type.
 */
import { z } from 'zod';
import { isName, NAME_RULE } from './names.js';
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
const name = z.string().refine(isName, NAME_RULE);
/** A table keyed by names (sources, pools…): a bad key's error says the rule, not "invalid key". */
const byName = <T extends z.ZodType>(value: T) =>
  z.record(name, value, { error: (issue) => (issue.code === 'invalid_key' ? `"${typeof issue.input === 'string' ? issue.input : JSON.stringify(issue.input)}" is not a usable name: ${NAME_RULE}` : undefined) });
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
  /**
   * A connection lease lapses this long after it was taken or last renewed (renewed every
   * third of it). Short, so a lease nobody holds (a node that died, a request Redis ran
   * after we stopped waiting) frees its connection slot soon.
   */
  lease_ttl: duration.default(6_000),
  /**
   * Shared by every node: peers authenticate on the cluster listener with a credential
   * derived from it and sign the facts that travel with a handed-off message. Required
   * with a `mode = "cluster"` listener.
   */
  secret: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -hex 24); every node needs the same').optional(),
  /** Where peers reach this node's cluster listener; default: that listener's host:port when the host is not a wildcard. */
  advertise: hostPort.optional(),
  /**
   * Copies of an accepted message before its 250: 1 (this node's spool) or 2 (also one
   * live peer, chosen by rendezvous hashing; docs/CLUSTER.md "Replicas").
   */
  replicas: z.union([z.literal(1), z.literal(2)]).default(1),
  /** With replicas = 2 and no live peer: accept with one copy ("best-effort") or answer 451 4.3.0 ("required"). */
  replica_policy: z.enum(['best-effort', 'required']).default('best-effort'),
  /**
   * "file": this node's config files are the whole config. "redis": the versions
   * `sluice config push` publishes replace every section a reload may change
   * (docs/OPERATIONS.md "Config rollout"); this file keeps node, cluster, listen, tls, admin...
   */
  config: z.enum(['file', 'redis']).default('file'),
});

/**
 * Mozilla's "intermediate" TLS 1.2 list (ssl-config.mozilla.org, v5.7): forward secrecy and
 * AEAD only, no CBC (LUCKY13), no RSA key exchange, no 3DES/RC4. Every client from the last
 * decade has one of these; testssl.sh rates none of them weak.
 */
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * [limits]: per-client limits on a listener, as Postfix's anvil and smtpd do (the README
 * and docs/RELIABILITY.md say what each defends against). 0 turns a limit off.
 */
const clientLimitKeys = {
  /** Concurrent sessions from one client address on one listener (never more than half its max_connections). */
  max_connections_per_ip: z.number().int().nonnegative(),
  /** New sessions from one client address on one listener; absent: no limit. */
  max_connection_rate: rate.optional(),
  /** NOOP, RSET, VRFY, EXPN, HELP, ETRN and HELO/EHLO after the second, since the last accepted message. */
  max_junk_commands: z.number().int().nonnegative(),
  /** Error replies (4xx/5xx, except 421 and 452) since the last accepted message; then 421 4.7.0. */
  max_errors: z.number().int().nonnegative(),
  /** The whole DATA phase, from the 354 to the final dot (the idle timeout applies between bytes). */
  data_timeout: duration,
  /** The whole session, checked at each command (0: no limit). */
  session_timeout: duration,
};

const untrustedLimits = z.strictObject({
  max_connections_per_ip: clientLimitKeys.max_connections_per_ip.default(20),
  max_connection_rate: clientLimitKeys.max_connection_rate.default({ count: 60, periodMs: 60_000 }),
  max_junk_commands: clientLimitKeys.max_junk_commands.default(100),
  max_errors: clientLimitKeys.max_errors.default(20),
  data_timeout: clientLimitKeys.data_timeout.default(600_000),
  session_timeout: clientLimitKeys.session_timeout.default(1_800_000),
});

/** Clients in relay.networks and authenticated users (Postfix exempts $mynetworks from anvil). */
const trustedLimits = z.strictObject({
  max_connections_per_ip: clientLimitKeys.max_connections_per_ip.default(0),
  max_connection_rate: clientLimitKeys.max_connection_rate,
  max_junk_commands: clientLimitKeys.max_junk_commands.default(1000),
  max_errors: clientLimitKeys.max_errors.default(1000),
  data_timeout: clientLimitKeys.data_timeout.default(600_000),
  session_timeout: clientLimitKeys.session_timeout.default(0),
});

/** Postfix's stress-dependent overrides, for untrusted clients while a listener is nearly full. */
const stressLimits = z.strictObject({
  /** The share of a listener's max_connections in use from which it is under stress. */
  threshold: z.number().gt(0).max(1).default(0.8),
  socket_timeout: duration.default(10_000),
  max_connections_per_ip: z.number().int().nonnegative().default(5),
  max_junk_commands: z.number().int().nonnegative().default(10),
  max_errors: z.number().int().nonnegative().default(5),
});

const limits = untrustedLimits.extend({
  /** IPv6 clients are counted per prefix of this length: a host usually holds a whole /64 (RFC 4291 §2.5.1). */
  ipv6_prefix_length: z.number().int().min(32).max(128).default(64),
  trusted: trustedLimits.default(trustedLimits.parse({})),
  stress: stressLimits.default(stressLimits.parse({})),
});

const listen = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port,
  mode: z.enum(['relay', 'submission', 'cluster']),
  tls: z.enum(['starttls', 'implicit', 'none']).default('starttls'),
  /** The oldest TLS version a client may negotiate (TLS 1.0 and 1.1: RFC 8996). */
  tls_min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always the safe three). */
  tls_ciphers: z.string().min(1).default(INTERMEDIATE_CIPHERS),
  proxy: z.boolean().default(false),
  max_connections: z.number().int().positive().default(1000),
  /** Idle time allowed between commands. */
  socket_timeout: duration.default(60_000),
  /** Take mail for [feedback] addresses from any client; default: true on relay listeners, false on submission. */
  feedback: z.boolean().optional(),
  /** This listener's own values for the [limits] keys of untrusted clients. */
  limits: z.strictObject(clientLimitKeys).partial().optional(),
  /** Submission: offer and accept AUTH before TLS (passwords in clear text). Loopback hosts only. */
  allow_insecure_auth: z.boolean().default(false),
});

const relay = z.strictObject({
  networks: z.array(z.string()).default(['127.0.0.0/8', '::1/128']),
  max_message_size: size.default(25 * 1024 * 1024),
  max_recipients: z.number().int().positive().default(1000),
  bare_line_endings: z.enum(['normalize', 'reject']).default('normalize'),
  /** AUTH failures allowed on one session before it is closed. */
  max_auth_failures: z.number().int().positive().default(3),
  /** Failed AUTH attempts from one client IP per auth_failure_window, across sessions and nodes; the next is refused (454 4.7.0) for auth_lockout. */
  auth_failure_limit: z.number().int().positive().default(10),
  /** Failed AUTH attempts at one account name per auth_failure_window, from any IP; the next is refused for auth_lockout. */
  auth_account_failure_limit: z.number().int().positive().default(20),
  auth_failure_window: duration.default(600_000),
  /** How long a client IP or an account over its limit gets 454 4.7.0 to every AUTH, right password or not. */
  auth_lockout: duration.default(900_000),
  /**
   * Loop protection (RFC 5321 §6.3): a message whose header has more Received fields
   * than this is refused at the end of DATA with 554 5.4.6. Postfix's hopcount_limit is 50.
   */
  max_received: z.number().int().positive().default(50),
  /**
   * Where mail to <postmaster> and postmaster@<a local domain> goes (RFC 5321 §4.5.1:
   * it must be accepted from anyone). Absent: it is kept in data_dir/postmaster/.
   */
  postmaster: z.string().regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an address, e.g. "ops@example.com"').optional(),
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
  /** How far ahead X-Sluice-Send-At may schedule a message; further is refused with 550 5.7.1. */
  max_schedule: duration.default(7 * 86_400_000),
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
  /** How long a source over a limit is held toward the provider (default 30m). */
  hold_for: duration.optional(),
  /** The older name of hold_for, still accepted (README "Words"); the parsed config has hold_for only. */
  pause_for: duration.optional(),
})
  .superRefine((h, ctx) => {
    if (h.hold_for !== undefined && h.pause_for !== undefined) ctx.addIssue({ code: 'custom', path: ['pause_for'], message: 'set hold_for or pause_for (its older name), not both: keep hold_for and remove pause_for' });
  })
  .transform(({ hold_for, pause_for, ...rest }) => ({ ...rest, hold_for: hold_for ?? pause_for ?? 1_800_000 }));

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
  /** `hold` / `hold_provider`; `suspend` / `suspend_provider` are their older names, kept as aliases (README "Words"). */
  action: z.enum(['hold', 'hold_provider', 'suspend', 'suspend_provider', 'defer', 'bounce']),
  duration: duration.optional(),
});

const provider = z.strictObject({
  mx_suffixes: z.array(z.string()).default([]),
  domains: z.array(z.string()).default([]),
  max_connections: z.number().int().positive().optional(),
  max_message_rate: rate.optional(),
  /** Messages that may leave back to back under max_message_rate (1..its count); absent: evenly spaced with 15 ms of slack (state/gcra-params.ts). */
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
  /** Wrong tokens from one client IP per token_failure_window before it gets 429 for token_lockout. */
  token_failure_limit: z.number().int().positive().default(10),
  token_failure_window: duration.default(600_000),
  token_lockout: duration.default(900_000),
});

const webhook = z.strictObject({
  url: z.url(),
  events: z.array(z.string()).default(['delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'cancelled', 'queue_action']),
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

/** [bounces]: how bounces are classified (config/bounce-rules.toml and the operators' own rules). */
const bounces = z.strictObject({
  /** Rule files tried before the shipped config/bounce-rules.toml, first file first (paths relative to this config file). */
  rules: z.array(z.string().min(1)).default([]),
  /**
   * VERP: mail leaves with the envelope sender b+<token>@domain (a signed reference to the
   * message and recipient), and relay listeners take bounces for this domain from any
   * client. Absent: off, the client's envelope sender is used.
   */
  domain: z.string().min(3).optional(),
  /** Key for the VERP token; every node of a cluster needs the same. Absent on one node: generated in data_dir. */
  secret: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -hex 24)').optional(),
  secret_file: z.string().optional(),
  /** Also send the original sender a DSN (RFC 3464) of its own for each bounce mailed back, as it had without VERP. */
  forward: z.boolean().default(false),
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
  limits: limits.default(limits.parse({})),
  users: z.array(user).default([]),
  tls: tls.optional(),
  dns: dns.default(dns.parse({})),
  delivery: delivery.default(delivery.parse({})),
  queue: queue.default(queue.parse({})),
  plugins: plugins.default(plugins.parse({})),
  sources: byName(source).default({}),
  pools: byName(pool).default({}),
  routes: z.array(route).default([]),
  warmup: byName(warmup).default({}),
  providers: byName(provider).default({}),
  admin: admin.optional(),
  events: events.default(events.parse({})),
  alerts: z.array(alert).default([]),
  feedback: feedback.optional(),
  bounces: bounces.default(bounces.parse({})),
  // Plugin tables: checked by each plugin's own configSchema when the plugin host loads it.
  dkim: z.unknown().optional(),
  classify: z.unknown().optional(),
  suppression: z.unknown().optional(),
});

export type Config = z.output<typeof configSchema>;
export type ListenConfig = Config['listen'][number];
export type LimitsConfig = Config['limits'];
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
