// check-config: exit 1 listing every problem as file:line key: problem, with a did-you-mean.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';
import { makeCert } from '../support/certs.js';
import { loadConfig } from '../../gateway/config/load.js';

const run = promisify(execFile);

async function check(toml: string, extra: Record<string, string> = {}): Promise<{ code: number; out: string; file: string }> {
  const dir = tempDir();
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, toml);
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  try {
    const r = await run(process.execPath, [CLI, 'check-config', '--config', file]);
    return { code: 0, out: r.stdout + r.stderr, file };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr, file };
  }
}

test('a typo in a key names file, line and key and suggests the right one', async () => {
  const { code, out, file } = await check(['[node]', 'id = "gw-1"', '', '[relay]', 'networks = ["10.0.0.0/8"]', 'max_recipents = 50', ''].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:6 relay.max_recipents: unknown key (did you mean "max_recipients"?)`);
});

test('every problem is listed, not only the first', async () => {
  const { code, out, file } = await check(
    ['[relay]', 'max_message_size = "lots"', '', '[[listen]]', 'port = 2525', 'mode = "relayy"', '', '[pools.tx]', 'sources = ["nope"]', '[sources.a]', 'ip = "127.0.0.2"', 'ehlo = "a.test"'].join('\n'),
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:2 relay.max_message_size: "lots" is not a size`);
  expect(out).toMatch(new RegExp(`${file}:6 listen\\[0\\]\\.mode: `));
  // The cross checks run on what parsed, in the same pass as the schema.
  expect(out).toContain(`${file}:9 pools.tx.sources[0]: no source named "nope"`);
  expect(out).toContain('3 problems found');
});

test('cross references are checked after the schema: unknown source in a pool', async () => {
  const { code, out, file } = await check(['[sources.tx1]', 'ip = "127.0.0.2"', 'ehlo = "a.test"', '[pools.transactional]', 'sources = ["tx2"]'].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:5 pools.transactional.sources[0]: no source named "tx2" (did you mean "tx1"?)`);
});

test('an included file is checked and named in its own errors', async () => {
  const { code, out } = await check(['include = ["shaping.toml"]'].join('\n'), { 'shaping.toml': '[providers.gmail]\nmax_conections = 3\n' });
  expect(code).toBe(1);
  expect(out).toMatch(/shaping\.toml:2 providers\.gmail\.max_conections: unknown key \(did you mean "max_connections"\?\)/);
});

test('a TOML syntax error names the line', async () => {
  const { code, out, file } = await check('[node]\nid = "x\n');
  expect(code).toBe(1);
  expect(out).toContain(`${file}:2`);
});

test('the shipped config is valid', async () => {
  const r = await run(process.execPath, [CLI, 'check-config', '--config', 'config/sluice.toml']);
  expect(r.stdout).toMatch(/^OK: /);
});

test('a response rule whose match is neither a code nor a valid regular expression is refused', async () => {
  const { code, out, file } = await check(['[providers.gmail]', 'mx_suffixes = [".google.com"]', '[[providers.gmail.rules]]', 'match = "unusual (rate"', 'action = "suspend"'].join('\n'));
  expect(code).toBe(1);
  expect(out).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4 providers\\.gmail\\.rules\\[0\\]\\.match: not an enhanced code and not a valid regular expression`));
});

test('response rules take the action "hold" / "hold_provider", and still "suspend" / "suspend_provider" (their older names)', async () => {
  const rule = (action: string) => ['[[providers.gmail.rules]]', 'match = "4.7.28"', `action = "${action}"`, 'duration = "30m"'];
  const ok = await check(['[providers.gmail]', 'mx_suffixes = [".google.com"]', ...['hold', 'hold_provider', 'suspend', 'suspend_provider'].flatMap(rule)].join('\n'));
  expect(ok.out).toMatch(/^OK: /);
  const { code, out, file } = await check(['[providers.gmail]', 'mx_suffixes = [".google.com"]', ...rule('pause')].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:5 providers.gmail.rules[0].action: `);
});

test('[pools.X.health] hold_for sets how long a source is held; pause_for, its older name, still does; both at once is an error naming file, line and key', async () => {
  const pool = (...health: string[]) => ['[sources.a]', 'ip = "127.0.0.2"', 'ehlo = "a.test"', '[pools.tx]', 'sources = ["a"]', '[pools.tx.health]', ...health].join('\n');
  const holdFor = (toml: string) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sluice.toml'), toml);
    return loadConfig(join(dir, 'sluice.toml')).config.pools['tx']?.health?.hold_for;
  };
  expect(holdFor(pool('hold_for = "10m"'))).toBe(600_000);
  expect(holdFor(pool('pause_for = "20m"'))).toBe(1_200_000);
  expect(holdFor(pool('min_volume = 10'))).toBe(1_800_000);
  const { code, out, file } = await check(pool('hold_for = "10m"', 'pause_for = "20m"'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:8 pools.tx.health.pause_for: set hold_for or pause_for (its older name), not both: keep hold_for and remove pause_for`);
  const typo = await check(pool('hold_fro = "10m"'));
  expect(typo.out).toContain(`${typo.file}:7 pools.tx.health.hold_fro: unknown key (did you mean "hold_for"?)`);
});

test('[feedback] problems name their keys: addresses, a submission listener, a cluster without a shared secret', async () => {
  const { code, out, file } = await check(
    [
      '[cluster]',
      'redis_url = "redis://127.0.0.1:6379/0"',
      '[[listen]]',
      'port = 2587',
      'mode = "submission"',
      'feedback = true',
      '[[users]]',
      'name = "app"',
      'password_hash = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="',
      '[feedback]',
      'addresses = ["fbl@feedback.example.com", "not an address"]',
      'forward_other = "FBL@feedback.example.com"',
      '',
    ].join('\n'),
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:11 feedback.addresses[1]: "not an address" is not a mailbox address`);
  expect(out).toContain(`${file}:12 feedback.forward_other: is itself a feedback address`);
  expect(out).toContain(`${file}:6 listen[0].feedback: a submission listener requires AUTH`);
  expect(out).toContain(`${file}:11 feedback.addresses: no [[listen]] takes feedback`);
  expect(out).toContain(`${file}:10 feedback: with [cluster], set secret or secret_file`);
});

test('[feedback] trusted_reporters must be networks, and header = false needs some', async () => {
  const bad = await check(['[[listen]]', 'port = 2525', 'mode = "relay"', '[feedback]', 'addresses = ["fbl@feedback.example.com"]', 'trusted_reporters = ["65.55.0.0/16", "microsoft"]', ''].join('\n'));
  expect(bad.code).toBe(1);
  expect(bad.out).toContain(`${bad.file}:6 feedback.trusted_reporters[1]: "microsoft" is not an IPv4 or IPv6 network`);
  const none = await check(['[[listen]]', 'port = 2525', 'mode = "relay"', '[feedback]', 'addresses = ["fbl@feedback.example.com"]', 'header = false', ''].join('\n'));
  expect(none.code).toBe(1);
  expect(none.out).toMatch(/feedback\.trusted_reporters: with header = false no report carries our reference/);
});

test('a message burst over its rate, or without a rate beside it, is refused', async () => {
  const { code, out, file } = await check(
    ['[providers.yahoo]', 'mx_suffixes = [".yahoodns.net"]', 'max_message_rate = "150/s"', 'max_message_burst = 200', '[providers.yahoo.total]', 'max_message_burst = 10'].join('\n'),
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:4 providers.yahoo.max_message_burst: 200 is more than max_message_rate's 150 per period; use 1 to 150`);
  expect(out).toContain(`${file}:6 providers.yahoo.total.max_message_burst: needs max_message_rate in the same table ([providers.yahoo.total])`);
});

test('allow_insecure_auth on a listener that is not on loopback is refused, naming file, line, key and the fix', async () => {
  const { code, out, file } = await check(
    ['[[listen]]', 'host = "0.0.0.0"', 'port = 2587', 'mode = "submission"', 'allow_insecure_auth = true', '[[users]]', 'name = "app"', 'password_hash = "scrypt$16384$8$1$AAAA$AAAA"'].join('\n'),
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:5 listen[0].allow_insecure_auth: sends passwords in clear text, allowed only on a loopback host; set host = "127.0.0.1" (or "::1") on this listener, or remove allow_insecure_auth`);
  const loopback = await check(['[[listen]]', 'host = "127.0.0.1"', 'port = 2587', 'mode = "submission"', 'allow_insecure_auth = true', '[[users]]', 'name = "app"', 'password_hash = "scrypt$16384$8$1$AAAA$AAAA"'].join('\n'));
  expect(loopback.out).toMatch(/^OK: /);
});

test('a source or pool named like a built-in object property is refused with the naming rule', async () => {
  const { code, out, file } = await check(['[sources.constructor]', 'ip = "127.0.0.2"', 'ehlo = "a.test"', '', '[pools.toString]', 'sources = ["constructor"]'].join('\n'));
  expect(code).toBe(1);
  expect(out).toMatch(new RegExp(`${file}:1 sources\\.constructor: .*not a built-in object property`));
  expect(out).toMatch(/pools\.toString: .*not a built-in object property/);
});

test('[relay] max_received and postmaster are checked', async () => {
  const { code, out } = await check(['[relay]', 'max_received = 0', 'postmaster = "not an address"'].join('\n'));
  expect(code).toBe(1);
  expect(out).toMatch(/relay\.max_received: /);
  expect(out).toMatch(/relay\.postmaster: expected an address/);
});

test('a lease TTL a single timed-out renew would lapse is refused with the smallest value that works', async () => {
  const { code, out, file } = await check(['[cluster]', 'redis_url = "redis://127.0.0.1:6379/0"', 'command_timeout = "1s"', 'lease_ttl = "3s"'].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:4 cluster.lease_ttl: 3000 ms is under 4 x command_timeout (1000 ms)`);
  expect(out).toContain('raise lease_ttl to at least 4000 ms');
});

test('an unknown key, a wrong type and a route naming a missing pool: all three in one pass, the type error with an example', async () => {
  const { code, out, file } = await check(
    ['[sources.tx]', 'ip = "127.0.0.2"', 'ehlo = "tx.test"', '[pools.transactional]', 'sources = ["tx"]', 'priorty = 3', '[pools.bulk]', 'sources = ["tx"]', 'priority = "10"', '[[routes]]', 'class = "promo*"', 'pool = "promotional"', ''].join('\n'),
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:6 pools.transactional.priorty: unknown key (did you mean "priority"?)`);
  expect(out).toContain(`${file}:9 pools.bulk.priority: expected a number, got the string "10"; write it without quotes, e.g. priority = 10`);
  expect(out).toContain(`${file}:12 routes[0].pool: no pool named "promotional"`);
  expect(out).toContain('3 problems found');
});

test('a pool whose own entry is wrong still counts as defined: no second, false problem for a route naming it', async () => {
  const { code, out } = await check(['[sources.tx]', 'ip = "127.0.0.2"', 'ehlo = "tx.test"', '[pools.bulk]', 'sources = ["tx"]', 'priority = "10"', '[[routes]]', 'class = "b*"', 'pool = "bulk"', ''].join('\n'));
  expect(code).toBe(1);
  expect(out).not.toContain('no pool named');
  expect(out).toContain('1 problem found');
});

test('a [[dkim.keys]] file that does not exist is a problem, not OK (start would fail)', async () => {
  const { code, out, file } = await check(['[[dkim.keys]]', 'domain = "example.com"', 'selector = "s1"', 'key = "certs/dkim/example.com.s1.pem"', ''].join('\n'));
  expect(code).toBe(1);
  expect(out).toContain(`${file}:4 dkim.keys[0].key: key file ${join(dirname(file), 'certs/dkim/example.com.s1.pem')} does not exist`);
  expect(out).toContain(`sluice dkim keygen --domain example.com --selector s1 --config ${file}`);
  expect(out).not.toContain('OK');
});

test('a DKIM key that is not a private key, and a TLS key that does not match its certificate, are reported together', async () => {
  const { cert, key } = await makeCert();
  const other = await makeCert();
  const { code, out, file } = await check(
    ['[tls]', 'cert = "tls.crt"', 'key = "tls.key"', '[[dkim.keys]]', 'domain = "example.com"', 'selector = "s1"', 'key = "dkim.pem"', ''].join('\n'),
    { 'tls.crt': cert, 'tls.key': other.key, 'dkim.pem': 'not a key\n' },
  );
  expect(code).toBe(1);
  expect(out).toContain(`${file}:3 tls.key: ${join(dirname(file), 'tls.key')} is not the private key of the certificate`);
  expect(out).toMatch(/dkim\.keys\[0\]\.key: .*dkim\.pem is not a PEM private key/);
  expect(out).toContain('2 problems found');
  expect(key).toContain('PRIVATE KEY');
});

test('a later --config wins (npm start -- --config FILE after the script\'s own)', async () => {
  const dir = tempDir();
  const good = join(dir, 'good.toml');
  writeFileSync(good, '[node]\nid = "x"\n');
  const r = await run(process.execPath, [CLI, 'check-config', '--config', join(dir, 'missing.toml'), '--config', good]);
  expect(r.stdout).toBe(`OK: ${good}\n`);
});
