// Redis hangs (SIGSTOP: sockets open, no answers): the node notices (state_degraded),
// never delivers to a recipient it cannot check against the suppression list (deferred
// with 451 4.3.0 instead), and delivers once Redis answers again (state_restored).
// Runs the built node (dist/) as a child process, since the suppression plugin is loaded
// from the built plugins/ folder: run `npx tsc -p tsconfig.json` first.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestMx } from '../support/test-mx.js';
import { redisServerPath, type PrivateRedis } from '../support/redis-server.js';
import { startCli, tempDir, type CliNode } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { nodeConfig, oneEach, providerZone, recipients, setupShaping, submit, type Shaping } from './harness.js';

const hasRedis = redisServerPath() !== null;
let env: Shaping;
let mx: TestMx;
let redis: PrivateRedis;
let cli: CliNode;
let port: number;

beforeAll(async () => {
  if (!hasRedis) return;
  env = await setupShaping({ redis: true, mx: { host: '127.0.0.69' }, zone: providerZone('hang.test', 5, 'mx.hangmail.test', '127.0.0.69') });
  ({ mx, redis } = env);
  port = await freePort();
  const dir = tempDir('sluice-hang-');
  const file = join(dir, 'sluice.toml');
  writeFileSync(
    file,
    nodeConfig(env, {
      node: { id: 'h1', drain_timeout: '1s' },
      dataDir: `${dir}/data`,
      cluster: { redis_url: redis.url, command_timeout: '300ms' },
      listenPort: port,
      queue: { retry: ['1s'] },
      plugins: { order: ['suppression'] },
      sources: { a: { ip: '127.0.0.70' } },
      pools: { transactional: { sources: ['a'] } },
    }),
  );
  cli = startCli(file);
  await cli.waitFor('started');
});

afterAll(async () => {
  cli?.child.kill('SIGTERM');
  await cli?.exited();
  await env?.close();
});

test.skipIf(!hasRedis)('a hung Redis defers delivery instead of skipping the suppression check', async () => {
  // Queued while everything answers, but the MX is down: the mail waits for a retry.
  await mx.down();
  await submit(port, oneEach(recipients('s', 4, 'hang.test', 4)));
  await cli.waitFor('deferred');
  redis.pause();
  await cli.waitFor('state_degraded', 10_000);
  await mx.up();
  // Retries come every second (later after the MX's connection failures backed the site
  // off, and later still on a loaded machine): wait for the first one to be deferred for
  // the unreadable list, then none may have reached the MX.
  for (let waited = 0; !cli.output().includes('suppression list unavailable'); waited += 100) {
    if (waited >= 20_000) throw new Error(`no deferral for the unreadable suppression list within 20 s:\n${cli.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1_000));
  expect(mx.messages).toHaveLength(0);
  redis.resume();
  // Generous waits: on a loaded machine the reconnect and the next retries take a while.
  await cli.waitFor('state_restored', 30_000);
  await mx.waitFor(4, 30_000);
  expect(mx.messages.flatMap((m) => m.rcpts).sort()).toEqual(recipients('s', 4, 'hang.test', 4).sort());
});
