// Two nodes on one private Redis share the AUTH guessing count for a client IP; with
// Redis gone, a node falls back to its own share of the limit: guesses stay limited
// (never fail open) and a right password still works (never fail closed for everyone).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startNode, type ShapingNode } from '../shaping/harness.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { authOnce } from '../support/submission.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

const hasRedis = redisServerPath() !== null;
let redis: PrivateRedis;
let n1: ShapingNode;
let n2: ShapingNode;

const config = (id: string, hash: string) => `
[node]
id = "${id}"
data_dir = "\${DIR}/data"
[cluster]
redis_url = "${redis.url}"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
[relay]
max_auth_failures = 3
auth_failure_limit = 4
[[users]]
name = "app1"
password_hash = "${hash}"
`;

beforeAll(async () => {
  if (!hasRedis) return;
  redis = await startRedis();
  const hash = await hashPassword('right-password');
  n1 = await startNode(config('n1', hash));
  n2 = await startNode(config('n2', hash));
});
afterAll(async () => {
  if (!hasRedis) return;
  await n1.node.stop();
  await n2.node.stop();
  await redis.stop();
});

test.skipIf(!hasRedis)('guesses from one IP at two nodes count together: the 5th is refused on either node', async () => {
  const ip = '127.0.0.70';
  expect(n1.node.state.kind).toBe('redis');
  for (const n of [n1, n2, n1, n2]) expect((await authOnce(n.port, ip, 'app1', 'wrong'))?.code).toBe(535);
  expect((await authOnce(n1.port, ip, 'app1', 'wrong'))?.code).toBe(454);
  expect((await authOnce(n2.port, ip, 'app1', 'right-password'))?.code).toBe(454);
});

test.skipIf(!hasRedis)('with Redis down a node limits guesses on its own share and still lets a right password in', async () => {
  await redis.kill();
  const deadline = Date.now() + 10_000;
  while (!n1.node.state.degraded() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(n1.node.state.degraded()).toBe(true);
  expect((await authOnce(n1.port, '127.0.0.71', 'app1', 'right-password'))?.code).toBe(235);
  const codes: (number | undefined)[] = [];
  for (let i = 0; i < 6; i++) codes.push((await authOnce(n1.port, '127.0.0.72', 'app1', `wrong-${i}`))?.code);
  // The local share is 4 / live nodes seen (1 or 2): at most 4 guesses are checked.
  expect(codes.filter((c) => c === 535).length).toBeLessThanOrEqual(4);
  expect(codes.slice(4)).toEqual([454, 454]);
});
