/**
 * Each kind of classify rule on a real node: the class a message was given shows in
 * its outcome events (and so in metrics, the event log and webhooks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { authedClient, client, message, MX_HOST, removeDir, startNode, tempDir, userToml, type RunningNode } from '../plugin-host/harness.js';

const RULES = `
[[classify.rules]]
sender = "*@news.example.com"
class = "newsletter"

[[classify.rules]]
auth_user = "marketing-*"
class = "promotional"

[[classify.rules]]
client_network = ["127.0.0.77/32", "127.0.1.0/24"]
class = "internal"

[[classify.rules]]
recipient_domain = "*.partner.test"
class = "partner"
`;

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();
const classOf = new Map<string, string>();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  const users = (await userToml('marketing-eu', 'pw-marketing')) + (await userToml('billing', 'pw-billing'));
  gw = await startNode({ plugins: ['classify'], mx: mx.address, submission: true, extra: RULES + users }, dir);
  gw.node.plugins.outcomes.on('delivered', (e) => classOf.set(e.recipient, e.class));
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

async function classAt(rcpt: string): Promise<string | undefined> {
  await expect.poll(() => classOf.has(rcpt), { timeout: 10_000 }).toBe(true);
  return classOf.get(rcpt);
}

describe('classify rules end to end', () => {
  it('sender glob (case-insensitive)', async () => {
    const c = await client(gw.port);
    expect((await c.send('Weekly@NEWS.example.com', ['sender-rule@example.net'], message()))?.code).toBe(250);
    expect((await c.send('weekly@news.example.org', ['sender-miss@example.net'], message()))?.code).toBe(250);
    c.close();
    expect(await classAt('sender-rule@example.net')).toBe('newsletter');
    expect(await classAt('sender-miss@example.net')).toBe('transactional');
  });

  it('auth user glob', async () => {
    const marketing = await authedClient(gw.submissionPort as number, 'marketing-eu', 'pw-marketing');
    expect((await marketing.send('app@example.com', ['auth-rule@example.net'], message()))?.code).toBe(250);
    marketing.close();
    const billing = await authedClient(gw.submissionPort as number, 'billing', 'pw-billing');
    expect((await billing.send('app@example.com', ['auth-miss@example.net'], message()))?.code).toBe(250);
    billing.close();
    expect(await classAt('auth-rule@example.net')).toBe('promotional');
    expect(await classAt('auth-miss@example.net')).toBe('transactional');
  });

  it('client network', async () => {
    for (const [from, rcpt] of [['127.0.0.77', 'net-host@example.net'], ['127.0.1.9', 'net-range@example.net'], ['127.0.0.78', 'net-miss@example.net']] as const) {
      const c = await client(gw.port, { localAddress: from });
      expect((await c.send('app@example.com', [rcpt], message()))?.code).toBe(250);
      c.close();
    }
    expect(await classAt('net-host@example.net')).toBe('internal');
    expect(await classAt('net-range@example.net')).toBe('internal');
    expect(await classAt('net-miss@example.net')).toBe('transactional');
  });

  it('recipient domain: any recipient of the message', async () => {
    const c = await client(gw.port);
    expect((await c.send('app@example.com', ['plain@example.net', 'someone@eu.partner.test'], message()))?.code).toBe(250);
    expect((await c.send('app@example.com', ['x@partner.test'], message()))?.code).toBe(250);
    c.close();
    // The class belongs to the message: both of its recipients have it.
    expect(await classAt('plain@example.net')).toBe('partner');
    expect(await classAt('someone@eu.partner.test')).toBe('partner');
    expect(await classAt('x@partner.test')).toBe('transactional');
  });

  it('default: mail no rule matches is transactional', async () => {
    const c = await client(gw.port);
    expect((await c.send('app@example.com', ['default@example.net'], message()))?.code).toBe(250);
    c.close();
    expect(await classAt('default@example.net')).toBe('transactional');
  });
});
