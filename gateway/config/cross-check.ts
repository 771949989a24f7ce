/** Checks between sections that a schema cannot express: names that must exist, networks that must parse. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { configPath } from './paths.js';
import { memberSource, type Config } from './schema.js';
import { closest } from './suggest.js';
import { parseNetwork } from './networks.js';
import { ruleMatchError } from './response-match.js';
import { isValidMailbox } from './mailbox.js';
import type { InvalidNames } from './partial.js';

export interface CrossIssue {
  readonly file: string;
  readonly line: null;
  readonly key: string;
  readonly message: string;
}

/**
 * `invalid`: names defined in the file whose entry the schema refused (check-config runs
 * these checks on what parsed): they exist, so nothing is reported as naming a missing one.
 */
export function crossCheck(config: Config, baseDir: string, invalid: InvalidNames = {}): CrossIssue[] {
  const out: CrossIssue[] = [];
  const add = (key: string, message: string) => out.push({ file: '', line: null, key, message });
  const sources = Object.keys(config.sources);
  const pools = Object.keys(config.pools);
  const warmups = Object.keys(config.warmup);
  const defined = (section: 'sources' | 'pools' | 'warmup' | 'providers', name: string) => config[section][name] !== undefined || (invalid[section]?.has(name) ?? false);
  const unknown = (kind: string, value: string, known: string[]) => {
    const guess = closest(value, known);
    return `no ${kind} named "${value}"${guess ? ` (did you mean "${guess}"?)` : known.length ? ` (defined: ${known.join(', ')})` : ` (define [${kind}s.${value}])`}`;
  };

  for (const [name, pool] of Object.entries(config.pools)) {
    pool.sources.forEach((m, i) => {
      const s = memberSource(m);
      if (!defined('sources', s)) add(`pools.${name}.sources[${i}]`, unknown('source', s, sources));
    });
    if (pool.overflow !== undefined) {
      if (!defined('pools', pool.overflow)) add(`pools.${name}.overflow`, unknown('pool', pool.overflow, pools));
      else if (pool.overflow === name) add(`pools.${name}.overflow`, 'a pool cannot overflow into itself');
    }
  }
  for (const [name, src] of Object.entries(config.sources)) {
    if (src.warmup !== undefined && !defined('warmup', src.warmup)) add(`sources.${name}.warmup`, unknown('warmup', src.warmup, warmups).replace('[warmups.', '[warmup.'));
    if (!/^[0-9.]+$|:/.test(src.ip)) add(`sources.${name}.ip`, `"${src.ip}" is not an IP address`);
  }
  config.routes.forEach((r, i) => {
    if (!defined('pools', r.pool)) add(`routes[${i}].pool`, unknown('pool', r.pool, pools));
    if (r.provider !== undefined && r.provider !== 'default' && !defined('providers', r.provider)) add(`routes[${i}].provider`, `no provider named "${r.provider}"`);
  });
  config.relay.networks.forEach((n, i) => {
    if (!parseNetwork(n)) add(`relay.networks[${i}]`, `"${n}" is not an IPv4 or IPv6 network; write e.g. "10.0.0.0/8" or "2001:db8::/32"`);
  });
  const cluster = config.cluster;
  if (cluster !== undefined && cluster.lease_ttl < 4 * cluster.command_timeout) {
    // Renewed every lease_ttl / 3: one renew may time out without the lease lapsing.
    add('cluster.lease_ttl', `${cluster.lease_ttl} ms is under 4 x command_timeout (${cluster.command_timeout} ms): a renew that times out once would lose the connection; raise lease_ttl to at least ${4 * cluster.command_timeout} ms`);
  }
  for (const [name, p] of Object.entries(config.providers)) {
    burstIssue(p, `providers.${name}`, add);
    if (p.total) burstIssue(p.total, `providers.${name}.total`, add);
    p.rules.forEach((r, i) => {
      const problem = ruleMatchError(r.match);
      if (problem) add(`providers.${name}.rules[${i}].match`, problem);
    });
  }
  const seen = new Map<string, number>();
  config.listen.forEach((l, i) => {
    const id = `${l.host}:${l.port}`;
    if (seen.has(id) && l.port !== 0) add(`listen[${i}].port`, `${id} is already used by listen[${seen.get(id)}]`);
    seen.set(id, i);
    if (l.mode === 'submission' && l.tls === 'none' && !l.allow_insecure_auth) add(`listen[${i}].tls`, 'submission needs TLS before AUTH: use "starttls" or "implicit" (or allow_insecure_auth = true on a loopback host)');
    if (l.allow_insecure_auth && !isLoopbackHost(l.host)) {
      add(`listen[${i}].allow_insecure_auth`, `sends passwords in clear text, allowed only on a loopback host; set host = "127.0.0.1" (or "::1") on this listener, or remove allow_insecure_auth`);
    }
    if (l.allow_insecure_auth && l.proxy) add(`listen[${i}].allow_insecure_auth`, 'behind the PROXY protocol the clients are not on this machine: clear-text AUTH would cross the network; remove allow_insecure_auth or proxy');
    if (l.allow_insecure_auth && l.mode !== 'submission') add(`listen[${i}].allow_insecure_auth`, 'only a submission listener takes AUTH with a password; remove it here');
    if (l.mode === 'cluster' && config.cluster?.secret === undefined) add(`listen[${i}].mode`, 'a cluster listener takes mail only from peers, who prove themselves with [cluster] secret: set [cluster] secret (the same on every node)');
    if (l.mode === 'cluster' && l.tls !== 'starttls') add(`listen[${i}].tls`, 'peers connect with STARTTLS and authenticate after it: use tls = "starttls" (the default) on a cluster listener');
    if (l.mode === 'cluster' && l.proxy) add(`listen[${i}].proxy`, 'peers connect to a cluster listener directly, not through the balancer: remove proxy');
    if (l.mode === 'submission' && config.users.length === 0) add(`listen[${i}].mode`, 'submission requires AUTH but no [[users]] are configured; add one (sluice hash-password makes password_hash)');
  });
  const names = new Set<string>();
  config.users.forEach((u, i) => {
    if (names.has(u.name)) add(`users[${i}].name`, `user "${u.name}" is defined twice`);
    names.add(u.name);
  });
  if (config.tls) tlsIssues(config.tls, baseDir, add);
  const readable = (key: string, path: string | undefined) => {
    if (path === undefined) return;
    const problem = unreadable(configPath(baseDir, path));
    if (problem) add(key, problem);
  };
  readable('admin.token_file', config.admin?.token_file);
  readable('feedback.secret_file', config.feedback?.secret_file);
  config.bounces.rules.forEach((file, i) => readable(`bounces.rules[${i}]`, file));
  readable('bounces.secret_file', config.bounces.secret_file);
  if (config.feedback) feedbackIssues(config, add);
  verpIssues(config, add);
  if (config.admin && !config.admin.token && !config.admin.token_file) add('admin', 'set token or token_file: the admin API is never open without one');
  return out;
}

/** 127.0.0.0/8, ::1 and "localhost": addresses only this machine can reach. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** [feedback]: addresses that can be taken in, somewhere to take them, a key the fleet shares. */
function feedbackIssues(config: Config, add: (key: string, message: string) => void): void {
  const fb = config.feedback;
  if (!fb) return;
  const seen = new Set<string>();
  fb.addresses.forEach((a, i) => {
    if (!isValidMailbox(a)) add(`feedback.addresses[${i}]`, `"${a}" is not a mailbox address; write e.g. "fbl@feedback.example.com"`);
    else if (seen.has(a.toLowerCase())) add(`feedback.addresses[${i}]`, `"${a}" is listed twice`);
    seen.add(a.toLowerCase());
  });
  if (fb.forward_other !== undefined) {
    if (!isValidMailbox(fb.forward_other)) add('feedback.forward_other', `"${fb.forward_other}" is not a mailbox address`);
    else if (seen.has(fb.forward_other.toLowerCase())) add('feedback.forward_other', 'is itself a feedback address: the message would come straight back');
  }
  config.listen.forEach((l, i) => {
    // smtp-server asks for AUTH before MAIL on submission: a provider's report could never arrive there.
    if (l.mode === 'submission' && l.feedback === true) add(`listen[${i}].feedback`, 'a submission listener requires AUTH, which feedback-loop senders cannot do: take reports on a relay listener');
  });
  if (!config.listen.some((l) => l.mode === 'relay' && l.feedback !== false)) add('feedback.addresses', 'no [[listen]] takes feedback: add a relay listener (port 25) without feedback = false');
  if (config.cluster && fb.header && fb.secret === undefined && fb.secret_file === undefined) {
    add('feedback', 'with [cluster], set secret or secret_file: a report may reach any node, and every node must read the X-Sluice-FBL header the others wrote');
  }
  if (fb.secret !== undefined && fb.secret_file !== undefined) add('feedback.secret_file', 'set secret or secret_file, not both');
  fb.trusted_reporters.forEach((n, i) => {
    if (!parseNetwork(n)) add(`feedback.trusted_reporters[${i}]`, `"${n}" is not an IPv4 or IPv6 network; write e.g. "65.55.0.0/16" or "2001:db8::/32"`);
  });
  if (!fb.header && fb.trusted_reporters.length === 0) add('feedback.trusted_reporters', 'with header = false no report carries our reference: list the networks the providers send reports from, or nothing will count');
}

/** [bounces] domain (VERP): a domain, somewhere to take bounces, a key the fleet shares. */
function verpIssues(config: Config, add: (key: string, message: string) => void): void {
  const b = config.bounces;
  if (b.domain === undefined) {
    for (const key of ['secret', 'secret_file', 'forward'] as const) if (key === 'forward' ? b.forward : b[key] !== undefined) add(`bounces.${key}`, 'only means something with [bounces] domain (VERP) set');
    return;
  }
  if (!/^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(b.domain)) add('bounces.domain', `"${b.domain}" is not a domain name; write e.g. "bounces.example.com"`);
  if (config.cluster && b.secret === undefined && b.secret_file === undefined) {
    add('bounces', 'with [cluster] and domain set, set secret or secret_file: a bounce may reach any node, and every node must check the token the others signed');
  }
  if (b.secret !== undefined && b.secret_file !== undefined) add('bounces.secret_file', 'set secret or secret_file, not both');
  if (!config.listen.some((l) => l.mode === 'relay' && l.feedback !== false)) add('bounces.domain', 'no [[listen]] takes bounces: add a relay listener (port 25) without feedback = false');
}

/** A burst belongs to the rate beside it, and cannot exceed its count (no window may hold more than count). */
function burstIssue(
  table: { max_message_rate?: { count: number } | undefined; max_message_burst?: number | undefined },
  at: string,
  add: (key: string, message: string) => void,
): void {
  const burst = table.max_message_burst;
  if (burst === undefined) return;
  const rate = table.max_message_rate;
  if (rate === undefined) add(`${at}.max_message_burst`, `needs max_message_rate in the same table ([${at}])`);
  else if (burst > rate.count) add(`${at}.max_message_burst`, `${burst} is more than max_message_rate's ${rate.count} per period; use 1 to ${rate.count}`);
}

/** Why `path` cannot be read by this user, or null. */
function unreadable(path: string): string | null {
  try {
    readFileSync(path);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `file not found: ${path} (relative paths are relative to the config file's directory)`;
    if (code === 'EACCES' || code === 'EPERM') return `${path} is not readable by this user`;
    if (code === 'EISDIR') return `${path} is a directory, not a file`;
    return `cannot read ${path} (${code ?? String(err)})`;
  }
}

/** [tls] cert and key: readable, a PEM certificate and a PEM private key that belong together. */
function tlsIssues(tls: { cert: string; key: string }, baseDir: string, add: (key: string, message: string) => void): void {
  const certPath = configPath(baseDir, tls.cert);
  const keyPath = configPath(baseDir, tls.key);
  let cert: X509Certificate | null = null;
  const certProblem = unreadable(certPath);
  if (certProblem) add('tls.cert', certProblem);
  else {
    try {
      cert = new X509Certificate(readFileSync(certPath));
    } catch (err) {
      add('tls.cert', `${certPath} is not a PEM certificate (${(err as Error).message})`);
    }
  }
  const keyProblem = unreadable(keyPath);
  if (keyProblem) return add('tls.key', keyProblem);
  try {
    const key = createPrivateKey(readFileSync(keyPath));
    if (cert && !cert.checkPrivateKey(key)) add('tls.key', `${keyPath} is not the private key of the certificate in ${certPath}`);
  } catch (err) {
    add('tls.key', `${keyPath} is not an unencrypted PEM private key (${(err as Error).message})`);
  }
}
