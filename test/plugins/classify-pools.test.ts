/**
 * classify's class (or the pool a rule pins) decides which pool, and so which source
 * IP, a message leaves from: the MX sees the right peer address and EHLO name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, startNode, tempDir, type RunningNode } from '../plugin-host/harness.js';

const POOLS = `
[sources.tx1]
ip = "127.0.0.21"
ehlo = "tx1.relay.test"

[sources.promo1]
ip = "127.0.0.22"
ehlo = "promo1.relay.test"

[sources.bulk1]
ip = "127.0.0.23"
ehlo = "bulk1.relay.test"

[pools.transactional]
sources = ["tx1"]

[pools.promotional]
sources = ["promo1"]

[pools.bulk]
sources = ["bulk1"]

[[classify.rules]]
header = { "List-Unsubscribe" = "*" }
class = "promotional"

[[classify.rules]]
sender = "*@news.example.com"
class = "promotional"
pool = "bulk"
`;

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: ['classify'], mx: mx.address, extra: POOLS }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('classify routes mail to pools', () => {
  it('a header rule sends promotional mail from the promotional pool, the rest from transactional', async () => {
    const c = await client(gw.port);
    expect((await c.send('app@example.com', ['a@example.net'], message({ subject: 'receipt' })))?.code).toBe(250);
    expect((await c.send('app@example.com', ['b@example.net'], message({ subject: 'sale', headers: ['List-Unsubscribe: <mailto:unsub@example.com>'] })))?.code).toBe(250);
    expect((await c.send('weekly@news.example.com', ['c@example.net'], message({ subject: 'digest' })))?.code).toBe(250);
    c.close();
    await mx.waitFor(3);
    const seen = Object.fromEntries(mx.messages.map((m) => [/Subject: (.*)\r\n/.exec(m.raw.toString())?.[1], { ip: m.peerIp, helo: m.helo }]));
    expect(seen).toEqual({
      receipt: { ip: '127.0.0.21', helo: 'tx1.relay.test' },
      sale: { ip: '127.0.0.22', helo: 'promo1.relay.test' },
      // The rule pinned the pool: the class alone would have picked "promotional".
      digest: { ip: '127.0.0.23', helo: 'bulk1.relay.test' },
    });
  });
});
