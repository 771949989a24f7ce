// A deferred message waits without its envelope in memory (docs/BENCHMARKS.md "Memory with
// 100 000 queued"); when its retry is due the envelope is read back from the spool, and
// the message leaves with its own sender, headers and route, once.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startNode, type ShapingNode } from '../shaping/harness.js';

let mx: TestMx;
let gw: ShapingNode;

beforeAll(async () => {
  // Every recipient is refused with a 451 until the test lets them through.
  mx = await startTestMx({ host: '127.0.0.31', rejectRcpt: () => ({ code: 451, message: '4.3.0 try again later' }) });
  gw = await startNode(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "${mx.address}"
[queue]
retry = ["1s"]
[sources.a]
ip = "127.0.0.2"
ehlo = "a.sluice.test"
[sources.b]
ip = "127.0.0.3"
ehlo = "b.sluice.test"
[pools.transactional]
sources = ["a"]
[pools.bulk]
sources = ["b"]
[[routes]]
header = { "X-Tier" = "bulk" }
pool = "bulk"
`);
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

test('a deferred message is read back from the spool and delivered with its envelope and route', async () => {
  const c = await RawSmtp.open(gw.port);
  await c.read();
  await c.cmd('EHLO app.test');
  expect((await c.send('news@example.com', ['reader@d1.example.net'], message({ subject: 'bulk one', headers: ['X-Tier: bulk'] })))?.code).toBe(250);
  expect((await c.send('app@example.com', ['user@d2.example.net'], message({ subject: 'plain one' })))?.code).toBe(250);
  c.close();

  await gw.waitForEvent('deferred', (l) => l['rcpt'] === 'reader@d1.example.net');
  await gw.waitForEvent('deferred', (l) => l['rcpt'] === 'user@d2.example.net');
  // While they wait, the queue holds compact records: no envelope, still counted by pool.
  await expect.poll(() => gw.node.scheduler.waitingItems().length).toBe(2);
  for (const item of gw.node.scheduler.waitingItems()) expect(item).not.toHaveProperty('envelope');
  expect(gw.node.queueRows().map((r) => r.pool).sort()).toEqual(['bulk', 'transactional']);

  mx.configure({ rejectRcpt: () => null });
  const got = await mx.waitFor(2);
  const bulk = got.find((m) => m.rcpts.includes('reader@d1.example.net'));
  const plain = got.find((m) => m.rcpts.includes('user@d2.example.net'));
  expect(bulk).toMatchObject({ mailFrom: 'news@example.com', peerIp: '127.0.0.3', helo: 'b.sluice.test' });
  expect(bulk?.raw.toString()).toContain('Subject: bulk one');
  expect(plain).toMatchObject({ mailFrom: 'app@example.com', peerIp: '127.0.0.2', helo: 'a.sluice.test' });
  expect(plain?.raw.toString()).toContain('Subject: plain one');

  await expect.poll(() => gw.events('delivered').length).toBe(2);
  expect(gw.events('delivered').map((l) => [l['rcpt'], l['pool'], l['message_id']]).sort()).toEqual([
    ['reader@d1.example.net', 'bulk', expect.stringMatching(/^</)],
    ['user@d2.example.net', 'transactional', expect.stringMatching(/^</)],
  ]);
  expect(mx.messages).toHaveLength(2);
  expect(gw.node.scheduler.depth).toBe(0);
});
