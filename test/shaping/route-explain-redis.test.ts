// `sluice route --explain` on a cluster node reads the connections in use from Redis:
// "2/4 connections in use" for a provider with a per-source limit only (no fleet total:
// it used to print "(fleet undefined/null)"), and "(fleet 3/12)" beside it when the
// provider has a fleet total. Runs the built CLI (dist/): run `npx tsc -p tsconfig.json` first.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { CLI, tempDir } from '../support/gateway.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { RedisState } from '../../gateway/state/redis/redis-state.js';
import { keys } from '../../gateway/shaping/keys.js';

const run = promisify(execFile);
const hasRedis = redisServerPath() !== null;
let dns: TestDnsServer;
let redis: PrivateRedis;
let state: RedisState;
let file: string;

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  dns = await startDnsServer({
    'mx.plain.test': { a: ['127.0.0.81'] },
    'plain.example': { mx: [{ priority: 10, exchange: 'mx.plain.test' }] },
    'mx.fleet.test': { a: ['127.0.0.82'] },
    'fleet.example': { mx: [{ priority: 10, exchange: 'mx.fleet.test' }] },
  });
  const dir = tempDir('sluice-explain-redis-');
  file = join(dir, 'sluice.toml');
  writeFileSync(file, `
[node]
id = "gw-1"
data_dir = "${dir}/data"
[cluster]
redis_url = "${redis.url}"
key_prefix = "explain:"
[dns]
servers = ["${dns.address}"]
[sources.s1]
ip = "127.0.0.83"
ehlo = "s1.mta.test"
[pools.transactional]
sources = ["s1"]
[providers.plainmail]
mx_suffixes = [".plain.test"]
max_connections = 4
[providers.fleetmail]
mx_suffixes = [".fleet.test"]
max_connections = 5
[providers.fleetmail.total]
max_connections = 12
`);
  // Connections other nodes hold now: 2 from s1 to plainmail, 3 from s1 to fleetmail.
  state = new RedisState({ url: redis.url, prefix: 'explain:' });
  expect(await state.waitReady(5_000)).toBe(true);
  for (let i = 0; i < 2; i++) expect(await state.throttle.acquire([{ key: keys.sourceConnections('s1', 'plainmail'), limit: 4 }], 600_000)).not.toBeNull();
  for (let i = 0; i < 3; i++) {
    const claims = [{ key: keys.sourceConnections('s1', 'fleetmail'), limit: 5 }, { key: keys.providerConnections('fleetmail'), limit: 12 }];
    expect(await state.throttle.acquire(claims, 600_000)).not.toBeNull();
  }
});

afterAll(async () => {
  await state?.close();
  await dns?.close();
  await redis?.stop();
});

async function explain(to: string): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, 'route', '--explain', '--config', file, '--from', 'app@shop.example', '--to', to]);
  return stdout;
}

test.skipIf(!hasRedis)('counts connections in use without a fleet part when the provider has no fleet total', async () => {
  const out = await explain('ann@plain.example');
  expect(out).toMatch(/^state +redis: shared by every node$/m);
  expect(out).toMatch(/^ {6}2\/4 connections in use;/m);
  expect(out).not.toMatch(/undefined|null|fleet/);
});

test.skipIf(!hasRedis)('shows the fleet total beside the per-source count when the provider has one', async () => {
  const out = await explain('bob@fleet.example');
  expect(out).toMatch(/^ {6}3\/5 connections in use \(fleet 3\/12\);/m);
  expect(out).not.toMatch(/undefined|null/);
});
