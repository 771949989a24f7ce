/**
 * `[classify] trust_header = true`: an authenticated client picks the class with an
 * X-Sluice-Class header; an anonymous relay client cannot. Either way the header never
 * leaves the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { authedClient, client, headerLines, message, MX_HOST, removeDir, startNode, tempDir, userToml, type RunningNode } from '../plugin-host/harness.js';

const CONFIG = `
[classify]
trust_header = true

[sources.tx1]
ip = "127.0.0.21"
ehlo = "tx1.relay.test"

[sources.promo1]
ip = "127.0.0.22"
ehlo = "promo1.relay.test"

[pools.transactional]
sources = ["tx1"]

[pools.promotional]
sources = ["promo1"]
`;

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: ['classify'], mx: mx.address, submission: true, extra: CONFIG + (await userToml('app', 'app-password')) }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

const received = (rcpt: string) => mx.messages.find((m) => m.rcpts.includes(rcpt));

describe('X-Sluice-Class', () => {
  it('from an authenticated client sets the class, and is stripped before delivery', async () => {
    const c = await authedClient(gw.submissionPort as number, 'app', 'app-password');
    expect((await c.send('app@example.com', ['authed@example.net'], message({ headers: ['X-Sluice-Class: promotional'] })))?.code).toBe(250);
    c.close();
    await mx.waitUntil(() => received('authed@example.net') !== undefined);
    const m = received('authed@example.net');
    expect(m?.peerIp).toBe('127.0.0.22');
    expect(headerLines(m?.raw ?? Buffer.alloc(0)).filter((l) => /^x-sluice-class:/i.test(l))).toEqual([]);
  });

  it('from an anonymous relay client is ignored, and stripped all the same', async () => {
    const c = await client(gw.port);
    expect((await c.send('app@example.com', ['anon@example.net'], message({ headers: ['x-SLUICE-class: promotional'] })))?.code).toBe(250);
    c.close();
    await mx.waitUntil(() => received('anon@example.net') !== undefined);
    const m = received('anon@example.net');
    expect(m?.peerIp).toBe('127.0.0.21');
    expect(headerLines(m?.raw ?? Buffer.alloc(0)).filter((l) => /^x-sluice-class:/i.test(l))).toEqual([]);
    // The rest of the message is intact.
    expect(headerLines(m?.raw ?? Buffer.alloc(0)).some((l) => l === 'Subject: test')).toBe(true);
  });
});
