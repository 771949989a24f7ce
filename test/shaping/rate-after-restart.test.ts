// A rate is a promise to the provider, also across a restart: a cluster node (Redis) sends
// a backlog at its provider's 100/s, is killed with -9 mid-run and started again on the
// same spool (recovery, every session reconnecting: the busiest second of a node's life).
// Counted at the test MX, no window of one second holds more than 100 messages from the
// source IP, sliding or calendar-aligned, before, across and after the restart.
// Runs the built node (dist/) as a child process: run `npx tsc -p tsconfig.json` first.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startCli, tempDir, type CliNode } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { redisServerPath } from '../support/redis-server.js';
import { nodeConfig, oneEach, peakWithin, providerZone, recipients, setupShaping, submit, type Shaping } from './harness.js';

const hasRedis = redisServerPath() !== null;
const SOURCE_IP = '127.0.0.95';
const RATE = 100;
let env: Shaping;
let file: string;
let port: number;
let node: CliNode | null = null;

beforeAll(async () => {
  if (!hasRedis) return;
  env = await setupShaping({ redis: true, mx: { host: '127.0.0.94' }, zone: providerZone('restart.test', 20, 'mx.ratemail.test', '127.0.0.94') });
  port = await freePort();
  const dir = tempDir('sluice-rate-restart-');
  file = join(dir, 'sluice.toml');
  writeFileSync(
    file,
    nodeConfig(env, {
      node: { id: 'r1', drain_timeout: '1s' },
      dataDir: `${dir}/data`,
      cluster: { redis_url: env.redis.url },
      listenPort: port,
      queue: { retry: ['1s'] },
      sources: { a: { ip: SOURCE_IP } },
      pools: { transactional: { sources: ['a'] } },
      providers: { ratemail: { mx_suffixes: ['.ratemail.test'], max_connections: 6, max_message_rate: `${RATE}/s`, max_messages_per_connection: 50 } },
    }),
  );
});

afterAll(async () => {
  node?.child.kill('SIGKILL');
  await node?.exited();
  await env?.close();
});

/** Most messages from `ip` in one calendar second (as a provider's per-second counter sees them). */
function peakCalendarSecond(times: readonly number[]): number {
  const per = new Map<number, number>();
  for (const t of times) per.set(Math.floor(t / 1_000), (per.get(Math.floor(t / 1_000)) ?? 0) + 1);
  return Math.max(0, ...per.values());
}

test.skipIf(!hasRedis)('no second holds more than the rate, across a kill -9 and the restart', async () => {
  const { mx } = env;
  const all = recipients('r', 900, 'restart.test', 20);
  node = startCli(file);
  await node.waitFor('started');
  // The backlog builds while the MX is down (every message deferred, retried each second),
  // then goes at the rate once it is up.
  await mx.down();
  await submit(port, oneEach(all));
  await mx.up();
  await mx.waitFor(250, 30_000);
  node.child.kill('SIGKILL');
  await node.exited();
  const killedAt = Date.now();
  node = startCli(file);
  await node.waitFor('started');
  const restartAt = Date.now();
  // At-least-once: a message in flight at the kill may arrive twice.
  await mx.waitUntil((m) => new Set(m.messages.flatMap((x) => x.rcpts)).size === all.length, 60_000);
  const times = mx.messages.filter((m) => m.peerIp === SOURCE_IP).map((m) => m.at);
  const afterRestart = times.filter((t) => t >= restartAt && t < restartAt + 3_000);
  if (process.env['DEBUG_RESTART']) console.log(node.output().split('\n').filter((l) => !l.includes('"delivered"')).slice(0, 30).join('\n'), times.filter((t) => t >= restartAt).slice(0, 5).map((t) => t - restartAt));
  const sliding = peakWithin(mx, 1_000, SOURCE_IP);
  const calendar = peakCalendarSecond(times);
  console.log(`${times.length} messages; most in any 1 s: ${sliding} sliding, ${calendar} calendar; restart took ${restartAt - killedAt} ms, then ${afterRestart.length} in its first 3 s; limit ${RATE}/s`);
  expect(sliding).toBeLessThanOrEqual(RATE);
  expect(calendar).toBeLessThanOrEqual(RATE);
  // The limit was reached, not just respected: the backlog went at close to the rate.
  expect(sliding).toBeGreaterThanOrEqual(RATE * 0.8);
});
