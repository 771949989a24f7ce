// A 10 000-character AUTH user name is logged bounded: its first 64 characters, escaped,
// and its length; never the whole name (issue 10 item 6).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startNode, type ShapingNode } from '../shaping/harness.js';
import { authOnce } from '../support/submission.js';
import { hashPassword } from '../../gateway/ingress/passwords.js';

let n: ShapingNode;

beforeAll(async () => {
  n = await startNode(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "submission"
[[users]]
name = "app1"
password_hash = "${await hashPassword('right-password')}"
`);
});
afterAll(() => n.node.stop());

test('the auth_failed line holds the first 64 characters escaped, the length, and not the rest', async () => {
  const name = `j\u00fcrgen\u2028\\${'A'.repeat(10_000 - 8)}`;
  expect((await authOnce(n.port, '127.0.0.80', name, 'wrong'))?.code).toBe(535);
  const line = await n.waitForEvent('auth_failed');
  expect(line['user_length']).toBe(10_000);
  const user = String(line['user']);
  expect(user.startsWith('j\\u{fc}rgen\\u{2028}\\u{5c}AAAA')).toBe(true);
  expect(user).toMatch(/^[\x20-\x7e]+$/);
  expect(user.length).toBeLessThan(100);
  expect(JSON.stringify(line).length).toBeLessThan(1_000);
});
