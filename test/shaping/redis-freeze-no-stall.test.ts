// Redis freezes (SIGSTOP: sockets open, no answers) for longer than the command timeout
// while a node is delivering, then resumes. Lease requests and releases the node gave up
// on must not come back as connection leases nobody holds: every message accepted is at
// the MX within a few seconds of Redis answering again (it used to stall until phantom
// leases lapsed, 36-60 s), /readyz says 503 while Redis is frozen and 200 after, and the
// leases in Redis are the node's own sessions: none once the node is idle.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { keys } from '../../gateway/shaping/keys.js';
import { freePort } from '../support/ports.js';
import { redisServerPath } from '../support/redis-server.js';
import { nodeConfig, oneEach, providerZone, recipients, setupShaping, slowData, submit, type Shaping } from './harness.js';

const hasRedis = redisServerPath() !== null;
const SOURCE_IP = '127.0.0.91';
/** How long after SIGCONT every accepted message must have reached the MX (a slow, shared CI machine). */
const BOUND_AFTER_RESUME_MS = 30_000;
/** The longest pause in arrivals at the MX after SIGCONT while mail is left (phantom leases: until they lapse). */
const MAX_GAP_MS = 3_000;
let env: Shaping;
let adminPort: number;

beforeAll(async () => {
  if (!hasRedis) return;
  adminPort = await freePort();
  env = await setupShaping({
    redis: true,
    mx: { host: '127.0.0.90', onData: slowData(40) },
    zone: providerZone('freeze.test', 10, 'mx.freezemail.test', '127.0.0.90'),
    config: (e) => ({
      node: { id: 'f1' },
      cluster: { redis_url: e.redis.url, command_timeout: '300ms' },
      queue: { retry: ['1s'] },
      sources: { a: { ip: SOURCE_IP } },
      pools: { transactional: { sources: ['a'] } },
      // Short sessions: many acquires and releases fall inside the freeze.
      providers: { freezemail: { mx_suffixes: ['.freezemail.test'], max_connections: 3, max_messages_per_connection: 20, idle_timeout: '500ms' } },
      extra: `[admin]\nlisten = "127.0.0.1:${adminPort}"\ntoken = "freeze-test-token-0123456789"\n`,
    }),
  });
});

afterAll(() => env?.close());

async function readyz(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
  await res.arrayBuffer();
  return res.status;
}

test.skipIf(!hasRedis)('a Redis frozen for 6 s stalls nothing once it answers again', async () => {
  const { mx, redis, gw } = env;
  const all = recipients('z', 300, 'freeze.test', 10);
  await submit(gw.port, oneEach(all.slice(0, 150)));
  await mx.waitFor(20, 15_000);
  expect(await readyz()).toBe(200);

  // Frozen while sessions start and end (20 messages each, 40 ms a message, 3 at once: sessions outlive the command timeout).
  redis.pause();
  const frozenAt = Date.now();
  await gw.waitForEvent('state_degraded', undefined, 10_000);
  expect(await readyz()).toBe(503);
  // Accepted while Redis is frozen: spooled, and more than the node can deliver before it is back.
  await new Promise((r) => setTimeout(r, 4_500));
  await submit(gw.port, oneEach(all.slice(150)));
  await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (Date.now() - frozenAt))));
  const leftAtResume = all.length - mx.messages.length;

  redis.resume();
  const resumedAt = Date.now();
  await gw.waitForEvent('state_restored', undefined, 10_000);
  expect(await readyz()).toBe(200);
  await mx.waitFor(all.length, BOUND_AFTER_RESUME_MS);
  const arrivals = [resumedAt, ...mx.messages.map((m) => m.at).filter((at) => at > resumedAt).sort((a, b) => a - b)];
  const gap = Math.max(...arrivals.slice(1).map((at, i) => at - (arrivals[i] ?? at)));
  const lastAfterResume = (arrivals[arrivals.length - 1] ?? resumedAt) - resumedAt;
  console.log(`redis frozen ${resumedAt - frozenAt} ms; ${leftAtResume} of ${all.length} messages left at SIGCONT, the last at the MX ${lastAfterResume} ms after it, longest pause ${gap} ms`);
  // Enough left for a stall to show (on a loaded machine the submission during the freeze is slower).
  expect(leftAtResume).toBeGreaterThan(10);
  expect(gap).toBeLessThan(MAX_GAP_MS);
  expect(new Set(mx.messages.flatMap((m) => m.rcpts))).toEqual(new Set(all));

  // Idle now: the sessions close, and the leases Redis counts are exactly the node's: none.
  await expect.poll(() => mx.peers().get(SOURCE_IP)?.current ?? 0, { timeout: 5_000 }).toBe(0);
  await expect.poll(() => gw.node.state.throttle.leaseCount(keys.sourceConnections('a', 'freezemail')), { timeout: 5_000 }).toBe(0);
  expect(gw.node.state.degraded()).toBe(false);
});
