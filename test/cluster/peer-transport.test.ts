/**
 * The cluster listener and PeerClient on real sockets (one node in-process, a private
 * Redis, a test MX): only a peer with the secret's credential gets past MAIL; a handoff
 * is spooled and delivered with its facts (class, pool) and without the X-Sluice-Peer
 * field; unsigned or tampered messages, too many hops and replicas without a store are
 * refused with their codes; an edge listener strips X-Sluice-Peer from client mail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../support/redis-server.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { plain } from '../support/submission.js';
import { PeerClient, PeerSendError } from '../../gateway/cluster/peer-client.js';
import { MAX_PEER_HOPS, peerMessage, peerPassword, type PeerFacts } from '../../gateway/cluster/peer-facts.js';
import { handoffFacts } from '../support/peer.js';
import { encodeBatch } from '../../gateway/cluster/peer-batch.js';

const SECRET = 'transport-test-secret-0123456789';

let redis: PrivateRedis;
let mx: TestMx;
let gw: TestGateway;
let client: PeerClient;

const facts = (over: Partial<PeerFacts> = {}, rcpts?: string[]): PeerFacts => handoffFacts({ attempts: { 'alice@example.test': 2 }, ...over }, rcpts);

beforeAll(async () => {
  redis = await startRedis();
  mx = await startTestMx({ host: '127.0.0.30' });
  gw = await startGateway(`
[node]
id = "n2"
data_dir = "\${DIR}/data"
[cluster]
redis_url = "${redis.url}"
secret = "${SECRET}"
heartbeat = "200ms"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "cluster"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.30:${mx.port}"
[sources.b]
ip = "127.0.0.31"
ehlo = "b.sluice.test"
[pools.promo]
sources = ["b"]
[[routes]]
class = "promotional"
pool = "promo"
`);
  client = new PeerClient({ nodeId: 'n1', secret: SECRET, hostname: 'n1.test' });
});

afterAll(async () => {
  client?.close();
  await gw?.stop();
  await mx?.close();
  await redis?.stop();
});

const peer = () => ({ id: 'n2', address: `127.0.0.1:${gw.port(1)}` });
const body = (subject: string) => Buffer.from(message({ from: 'app@sender.test', to: 'alice@example.test', subject }));

describe('cluster listener', () => {
  it('advertises its address in the node registry', async () => {
    await expect.poll(async () => (await gw.node.state.nodes.live()).find((n) => n.id === 'n2')?.cluster, { timeout: 5_000 }).toBe(`127.0.0.1:${gw.port(1)}`);
  });

  it('answers 530 5.7.0 at MAIL to a client that has not authenticated, and 535 to a wrong credential', async () => {
    const c = await RawSmtp.open(gw.port(1));
    await c.read();
    await c.cmd('EHLO stranger.test');
    const mail = await c.cmd('MAIL FROM:<x@y.test>');
    expect(mail?.code).toBe(530);
    expect(mail?.text).toMatch(/^5\.7\.0 /);
    await c.starttls();
    await c.cmd('EHLO stranger.test');
    const auth = await c.cmd(`AUTH PLAIN ${plain('n1', 'guessed-password')}`);
    expect(auth?.code).toBe(535);
    expect((await c.cmd('MAIL FROM:<x@y.test>'))?.code).toBe(530);
    c.close();
  });

  it('refuses a message without signed facts from an authenticated peer (554 5.7.0): it never relays', async () => {
    const c = await RawSmtp.open(gw.port(1));
    await c.read();
    await c.cmd('EHLO n1.test');
    await c.starttls();
    await c.cmd('EHLO n1.test');
    expect((await c.cmd(`AUTH PLAIN ${plain('n1', peerPassword(SECRET, 'n1'))}`))?.code).toBe(235);
    expect((await c.cmd('MAIL FROM:<x@y.test>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<victim@example.test>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    const r = await c.cmd(`${message({ to: 'victim@example.test' })}\r\n.`);
    expect(r?.code).toBe(554);
    expect(r?.text).toMatch(/^5\.7\.0 /);
    c.close();
  });

  it('takes a handoff after its spool commit, then delivers it with the facts and without the X-Sluice-Peer field', async () => {
    const before = mx.messages.length;
    const receipt = await client.send(peer(), facts(), body('handoff one'));
    expect(receipt.reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const got = await mx.waitFor(before + 1, 10_000);
    const m = got[before];
    expect(m?.rcpts).toEqual(['alice@example.test']);
    // pool "promo" (from the facts: class promotional) has one source, b.
    expect(m?.peerIp).toBe('127.0.0.31');
    const text = m?.raw.toString('latin1') ?? '';
    expect(text).toContain('Subject: handoff one');
    expect(text.toLowerCase()).not.toContain('x-sluice-peer');
  });

  it('refuses facts whose signature does not cover these bytes, and too many hops', async () => {
    const other = new PeerClient({ nodeId: 'n1', secret: 'another-secret-0123456789abcdef', hostname: 'n1.test' });
    // The wrong secret fails already at AUTH.
    await expect(other.send(peer(), facts(), body('x'))).rejects.toMatchObject({ replyCode: 535 });
    other.close();
    const err = await client.send(peer(), facts({ hops: MAX_PEER_HOPS }), body('loop')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerSendError);
    expect((err as PeerSendError).replyCode).toBe(554);
    expect((err as PeerSendError).permanent).toBe(true);
  });

  it('answers 451 4.3.0 to a replica while this node has no replica store', async () => {
    const err = await client.send(peer(), facts({ kind: 'replica' }), body('replica')).catch((e: unknown) => e);
    expect((err as PeerSendError).replyCode).toBe(451);
    expect(String((err as Error).message)).toContain('4.3.0');
  });

  it('sends messages that wait for a busy link together in one batch, each with its facts', async () => {
    // One connection: a message on the idle link goes alone and at once, the 10 that wait for it go in a batch.
    const one = new PeerClient({ nodeId: 'n1', secret: SECRET, hostname: 'n1.test', maxConnections: 1 });
    const before = mx.messages.length;
    const rcpt = (i: number) => `batch${i}@example.test`;
    const send = (i: number) => one.send(peer(), facts({ queueId: `QB${i}` }, [rcpt(i)]), Buffer.from(message({ from: 'app@sender.test', to: rcpt(i), subject: `batch ${i}` })));
    const opened = await send(0); // opens the link
    const receipts = [opened, ...(await Promise.all(Array.from({ length: 11 }, (_, i) => send(i + 1))))];
    one.close();
    expect(receipts[1]?.reply).toMatch(/queued as /);
    const batched = receipts.filter((r) => /^250 2\.0\.0 Ok: batch of \d+: \++$/.test(r.reply));
    expect(batched.length).toBeGreaterThanOrEqual(2);
    expect(receipts[0]?.reply).toMatch(/queued as /);
    const got = await mx.waitFor(before + 12, 15_000);
    const arrived = got.slice(before);
    expect(arrived.map((m) => m.rcpts[0]).sort()).toEqual(Array.from({ length: 12 }, (_, i) => rcpt(i)).sort());
    for (const m of arrived) {
      const text = m.raw.toString('latin1');
      expect(text).toContain(`Subject: batch ${m.rcpts[0]?.slice(5, -'@example.test'.length)}`);
      expect(text.toLowerCase()).not.toContain('x-sluice-peer');
      expect(m.peerIp).toBe('127.0.0.31');
    }
  });

  it('sends a batch the peer refuses as a whole again one message at a time: only the bad one fails', async () => {
    const one = new PeerClient({ nodeId: 'n1', secret: SECRET, hostname: 'n1.test', maxConnections: 1 });
    const before = mx.messages.length;
    const sends = [0, 1, 2, 3, 4].map((i) =>
      one.send(peer(), facts({ queueId: `QF${i}`, ...(i === 3 ? { hops: MAX_PEER_HOPS } : {}) }, [`fallback${i}@example.test`]), Buffer.from(message({ from: 'app@sender.test', to: `fallback${i}@example.test`, subject: `fallback ${i}` }))).then(
        (r) => r.reply,
        (e: unknown) => e,
      ),
    );
    const results = await Promise.all(sends);
    one.close();
    expect((results[3] as PeerSendError).replyCode).toBe(554);
    expect(String((results[3] as Error).message)).toContain('5.4.6');
    for (const i of [0, 1, 2, 4]) expect(results[i]).toMatch(/^250 2\.0\.0 /);
    const got = await mx.waitFor(before + 4, 15_000);
    expect(got.slice(before).map((m) => m.rcpts[0]).sort()).toEqual(['fallback0@example.test', 'fallback1@example.test', 'fallback2@example.test', 'fallback4@example.test']);
  });

  it('refuses a malformed batch frame with 554 5.6.0 and takes none of it', async () => {
    const before = mx.messages.length;
    const item = (subject: string) => {
      const b = body(subject);
      return peerMessage(SECRET, facts(), b);
    };
    const good = encodeBatch([item('frame a'), item('frame b')]).toString('latin1');
    // The second length says one byte more than the item has.
    const bad = good.replace(/\r\n\r\n(\d+)\r\n([\s\S]*)\r\n(\d+)\r\n/, (_all, a: string, mid: string, b: string) => `\r\n\r\n${a}\r\n${mid}\r\n${Number(b) + 1}\r\n`);
    expect(bad).not.toBe(good);
    const c = await RawSmtp.open(gw.port(1));
    await c.read();
    await c.cmd('EHLO n1.test');
    await c.starttls();
    await c.cmd('EHLO n1.test');
    expect((await c.cmd(`AUTH PLAIN ${plain('n1', peerPassword(SECRET, 'n1'))}`))?.code).toBe(235);
    await c.cmd('MAIL FROM:<>');
    await c.cmd('RCPT TO:<batch@peers.sluice.invalid>');
    expect((await c.cmd('DATA'))?.code).toBe(354);
    const r = await c.cmd(`${bad.replace(/\r\n\./g, '\r\n..')}\r\n.`);
    expect(r?.code).toBe(554);
    expect(r?.text).toMatch(/^5\.6\.0 /);
    c.close();
    await new Promise((res) => setTimeout(res, 500));
    expect(mx.messages.length).toBe(before);
  });

  it('strips X-Sluice-Peer from client mail on an edge listener', async () => {
    const before = mx.messages.length;
    const c = await RawSmtp.open(gw.port(0));
    await c.read();
    await c.cmd('EHLO app.test');
    await c.cmd('MAIL FROM:<app@sender.test>');
    await c.cmd('RCPT TO:<bob@example.test>');
    await c.cmd('DATA');
    const r = await c.cmd(`${message({ to: 'bob@example.test', subject: 'forged', headers: ['X-Sluice-Peer: 1.e30.AAAA'] })}\r\n.`);
    expect(r?.code).toBe(250);
    c.close();
    const got = await mx.waitFor(before + 1, 10_000);
    const text = got[before]?.raw.toString('latin1') ?? '';
    expect(text).toContain('Subject: forged');
    expect(text.toLowerCase()).not.toContain('x-sluice-peer');
  });
});
