// `sluice route --explain` prints the class, the rule, the pool, the provider and the MX
// hosts that decided it, the limits, and each candidate source with why it is or is not
// usable now (held, at its warm-up cap), then what would happen (here: the overflow pool).
// Runs the built CLI (dist/): run `npx tsc -p tsconfig.json` first.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { CLI, tempDir } from '../support/gateway.js';
import { createState } from '../../gateway/state/create.js';
import { systemClock } from '../../gateway/state/types.js';

const run = promisify(execFile);
let dns: TestDnsServer;
let file: string;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  dns = await startDnsServer({
    'in1.mx.bigmail.test': { a: ['127.0.0.75'] },
    'in2.mx.bigmail.test': { a: ['127.0.0.76'] },
    'customer.example': { mx: [{ priority: 10, exchange: 'in1.mx.bigmail.test' }, { priority: 20, exchange: 'in2.mx.bigmail.test' }] },
    'mx.small.example': { a: ['127.0.0.77'] },
    'small.example': { mx: [{ priority: 10, exchange: 'mx.small.example' }] },
    'in.mx.burstmail.test': { a: ['127.0.0.78'] },
    'burst.example': { mx: [{ priority: 10, exchange: 'in.mx.burstmail.test' }] },
  });
  const dir = tempDir('sluice-explain-');
  file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
id = "gw-1"
data_dir = "${dir}/data"
[dns]
servers = ["${dns.address}"]
[classify]
default = "transactional"
[[classify.rules]]
header = { "List-Unsubscribe" = "*" }
class = "promotional"
[sources.p1]
ip = "127.0.0.71"
ehlo = "p1.mta.test"
warmup = "ramp"
[sources.p2]
ip = "127.0.0.72"
ehlo = "p2.mta.test"
[sources.o1]
ip = "127.0.0.73"
ehlo = "o1.mta.test"
[pools.promo]
sources = ["p1", { source = "p2", weight = 2 }]
priority = 1
overflow = "spare"
[pools.spare]
sources = ["o1"]
[pools.transactional]
sources = ["o1"]
priority = 9
[[routes]]
class = "promotional"
provider = "bigmail"
pool = "promo"
[warmup.ramp]
start = ${today}
daily = [3, 10]
[providers.bigmail]
mx_suffixes = [".mx.bigmail.test"]
max_connections = 4
max_message_rate = "10/s"
connect_timeout = "5s"
idle_timeout = "2s"
[providers.burstmail]
mx_suffixes = [".mx.burstmail.test"]
max_connections = 3
max_message_rate = "150/s"
max_message_burst = 10
[providers.burstmail.total]
max_connections = 12
max_message_rate = "500/h"
max_message_burst = 50
[[providers.bigmail.rules]]
match = "4.7.28"
action = "suspend"
duration = "10m"
`);
  // The node's state as a running node would have left it: p1 used today's warm-up budget,
  // p2 was held for bigmail by the health monitor.
  const state = await createState({ dataDir: join(dir, 'data', 'state'), clock: systemClock });
  for (let i = 0; i < 3; i++) await state.warmup.take('p1', today, 3);
  await state.holds.set({ scope: 'source-provider:p2:bigmail', reason: 'bounce_rate: bounce rate 30% over max_bounce_rate 10%', until: Date.now() + 600_000, by: 'health' });
  await state.close();
});

afterAll(async () => {
  await dns?.close();
});

async function explain(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'route', '--explain', '--config', file, ...args]);
    return { out: stdout, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; code: number };
    return { out: e.stdout, code: e.code };
  }
}

test('explains a promotional message to a company domain hosted at the provider', async () => {
  const { out, code } = await explain('--from', 'news@shop.example', '--to', 'ann@customer.example', '--header', 'List-Unsubscribe: <mailto:u@shop.example>');
  expect(code).toBe(0);
  expect(out).toMatch(/^mx +in1\.mx\.bigmail\.test \(pref 10\) \[127\.0\.0\.75\]/m);
  expect(out).toMatch(/^provider +bigmail: every MX host matches \[providers\.bigmail\] mx_suffixes \(in1\.mx\.bigmail\.test ends in "\.mx\.bigmail\.test", in2/m);
  expect(out).toMatch(/^class +promotional \(classify\.rules\[0\] matched\)/m);
  expect(out).toMatch(/^rule +routes\[0\] \(class = "promotional", provider = "bigmail"\) → pool promo/m);
  expect(out).toMatch(/^pool +promo \(priority 1, overflow spare\)/m);
  expect(out).toMatch(/^limits +per source: 4 connections, 10\/s, 100 messages\/connection, connect_timeout 5s, idle_timeout 2s/m);
  // No burst: evenly spaced, (1000 + 30 ms) / 10 apart.
  expect(out).toMatch(/^rate +per source, all nodes together: at most 10 in any 1s \(sliding\); one every 103ms \(1 back to back\), about 9\.7\/s sustained$/m);
  expect(out).not.toMatch(/burst/);
  expect(out).toMatch(/^rules +4\.7\.28 → suspend 10m/m);
  expect(out).toMatch(/^ {2}no +p1 .*127\.0\.0\.71 .*p1 reached its warm-up cap for today \(3\/3\)/m);
  expect(out).toMatch(/^ {2}no +p2 .*weight 2 .*p2 is held for bigmail \(bounce_rate: bounce rate 30% over max_bounce_rate 10%; until /m);
  expect(out).toMatch(/^sources of pool spare \(overflow/m);
  expect(out).toMatch(/^ {2}yes o1 .*127\.0\.0\.73 +ehlo o1\.mta\.test/m);
  expect(out).toMatch(/^now +sends from pool spare: o1/m);
});

test('shows a burst beside its rate, and what each rate keeps', async () => {
  const { out, code } = await explain('--from', 'app@shop.example', '--to', 'cy@burst.example');
  expect(code).toBe(0);
  expect(out).toMatch(/^provider +burstmail: /m);
  expect(out).toMatch(/^limits +per source: 3 connections, 150\/s, burst 10, 100 messages\/connection, /m);
  // T = (1000 + 15 ms) / (150 - 10 + 1) = 7.2 ms: 138.9 a second at most sustained, never 151 in a second.
  expect(out).toMatch(/^rate +per source, all nodes together: at most 150 in any 1s \(sliding\); 10 back to back, then one every 7\.2ms, about 138\.9\/s sustained$/m);
  expect(out).toMatch(/^fleet total +12 connections, 500\/h, burst 50 \(all sources, all nodes\)$/m);
  // docs/SHAPING.md's example: 50 at once, then one every 7.98 s, 451 an hour.
  expect(out).toMatch(/^fleet rate +all sources, all nodes together: at most 500 in any 1h \(sliding\); 50 back to back, then one every 7\.98s, about 451\/h sustained$/m);
});

test('explains the default route and an unmatched provider', async () => {
  const { out, code } = await explain('--from', 'app@shop.example', '--to', 'bob@small.example');
  expect(code).toBe(0);
  expect(out).toMatch(/^provider +default: no \[providers\.X\] matched mx\.small\.example; limits are per site "mx\.small\.example"/m);
  expect(out).toMatch(/^class +transactional \(\[classify\] default/m);
  expect(out).toMatch(/^rule +pool named like class "transactional" → pool transactional/m);
  expect(out).toMatch(/^now +sends from pool transactional: o1/m);
});

test('a domain that does not resolve says so and exits 1', async () => {
  const { out, code } = await explain('--from', 'app@shop.example', '--to', 'x@nowhere.example');
  expect(code).toBe(1);
  expect(out).toMatch(/^route +none: 550 5\.1\.2 domain nowhere\.example does not exist \(bounces\)/m);
});
