// AUTH guessing limits that hold (issue 10 item 3): per client IP and per account,
// charged before the password is checked, never reset by another login, shared by
// parallel sessions; over the limit AUTH gets 454 4.7.0 unchecked, right password or not.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { authOnce, plain, tlsSession } from '../support/submission.js';
import { metricValue } from '../support/feedback.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

let gw: TestGateway;
const LOCKED = '4.7.0 Too many failed authentication attempts, try again later';

beforeAll(async () => {
  const hash = await hashPassword('right-password');
  const users = ['app1', 'app2', 'app3'].map((name) => `[[users]]\nname = "${name}"\npassword_hash = "${hash}"`).join('\n');
  gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
[relay]
max_auth_failures = 3
auth_failure_limit = 5
auth_account_failure_limit = 6
${users}
`);
});
afterAll(() => gw.stop());

test('good logins of another account between guesses do not reset the IP: the 6th guess is refused', async () => {
  const ip = '127.0.0.50';
  const codes: (number | undefined)[] = [];
  for (let round = 0; round < 3; round++) {
    const c = await tlsSession(gw.port(), ip);
    for (let i = 0; i < 2; i++) codes.push((await c.cmd(`AUTH PLAIN ${plain('app3', `guess-${round}-${i}`)}`))?.code);
    c.close();
    if (round < 2) codes.push((await authOnce(gw.port(), ip, 'app1', 'right-password'))?.code);
  }
  expect(codes).toEqual([535, 535, 235, 535, 535, 235, 535, 454]);
  // Locked out: the right password from this IP is refused unchecked too.
  const right = await authOnce(gw.port(), ip, 'app1', 'right-password');
  expect(right?.code).toBe(454);
  expect(right?.text).toBe(LOCKED);
});

test('parallel sessions share one count: 12 guesses at once from one IP, 5 checked, 7 refused', async () => {
  const ip = '127.0.0.51';
  const sessions = await Promise.all(Array.from({ length: 12 }, () => tlsSession(gw.port(), ip)));
  // Each guess at a different name, so only the IP limit applies.
  const replies = await Promise.all(sessions.map((c, i) => c.cmd(`AUTH PLAIN ${plain(`nobody${i}`, 'guess')}`)));
  for (const c of sessions) c.close();
  const codes = replies.map((r) => r?.code);
  expect(codes.filter((code) => code === 535)).toHaveLength(5);
  expect(codes.filter((code) => code === 454)).toHaveLength(7);
});

test('an account is limited across IPs: after 6 guesses from 6 addresses it is locked, from any address', async () => {
  for (let i = 0; i < 6; i++) expect((await authOnce(gw.port(), `127.0.0.${60 + i}`, 'app2', `guess-${i}`))?.code).toBe(535);
  const seventh = await authOnce(gw.port(), '127.0.0.66', 'APP2', 'guess-6');
  expect(seventh?.code).toBe(454);
  expect((await authOnce(gw.port(), '127.0.0.67', 'app2', 'right-password'))?.code).toBe(454);
  // Other accounts from a fresh address are untouched.
  expect((await authOnce(gw.port(), '127.0.0.68', 'app1', 'right-password'))?.code).toBe(235);
  const metrics = await gw.node.registry.metrics();
  expect(metricValue(metrics, 'sluice_auth_failures_total', { scope: 'smtp' })).toBeGreaterThanOrEqual(6);
  expect(metricValue(metrics, 'sluice_auth_refused_total', { scope: 'smtp' })).toBeGreaterThanOrEqual(2);
});
