// [bounces] forward = true sends the DSN to the original ENVELOPE sender, as it would
// have gone without VERP, even when that is not the header From (an ESP: From:
// news@brand.example, MAIL FROM:<bounces-123@esp.example>) and the bounce returns no
// headers at all: the sender was kept in the state when the message left. On one node
// (embedded state) and across a fleet (Redis: node A delivers and stops, the bounce
// reaches node B). A kept sender the token's MAC does not vouch for (a tampered entry,
// a forged From in the returned headers) gets no DSN: the bounce still counts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { readEvents, startBuiltGateway, type BuiltGateway, type EventLine } from '../support/feedback.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const DOMAIN = 'bounces.sluice.test';
const OUTSIDER = '127.0.0.98';
const hasRedis = redisServerPath() !== null;

function config(mx: RawMx, nodeId: string, redisUrl: string | null): string {
  return `
[node]
id = "${nodeId}"
data_dir = "\${DIR}/data"
hostname = "${nodeId}.sluice.test"
${redisUrl ? `[cluster]\nredis_url = "${redisUrl}"\nkey_prefix = "fwd:"` : ''}
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.94:${mx.port}"
[sources.tx1]
ip = "127.0.0.95"
ehlo = "tx1.sluice.test"
[pools.transactional]
sources = ["tx1"]
[events]
file = "\${DIR}/events.jsonl"
[bounces]
domain = "${DOMAIN}"
secret = "fleet-verp-secret-0123456789"
forward = true
`;
}

/** An RFC 3464 DSN that returns nothing of the message (RFC 3462 makes the third part optional). */
function headerlessDsn(rcpt: string): string {
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain',
    '',
    `<${rcpt}>: host mx.example.net said: 550 5.1.1 User unknown`,
    '',
    '--B1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

/** The same, returning headers that claim another sender (a forger, or a header From that is no envelope sender). */
function dsnClaiming(rcpt: string, from: string): string {
  return headerlessDsn(rcpt).replace('--B1--', ['--B1', 'Content-Type: text/rfc822-headers', '', `From: <${from}>`, `To: <${rcpt}>`, 'Subject: hi', '', '--B1--'].join('\r\n'));
}

interface Fleet {
  readonly mx: RawMx;
  /** The node the application sends through. */
  readonly sender: BuiltGateway;
  /** The node the bounce reaches (the sender itself on one node). */
  readonly receiver: BuiltGateway;
  readonly receiverLog: EventLine[];
  /** What happens between the delivery and the bounce (node A stops, in the fleet). */
  afterDelivery(): Promise<void>;
}

/** The ESP's message through `sender`; resolves to the VERP return path it left with. */
async function sendAsEsp(f: Fleet, envelopeFrom: string, rcpt: string): Promise<string> {
  const before = f.mx.transactions.length;
  const app = await RawSmtp.open(f.sender.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send(envelopeFrom, [rcpt], message({ from: 'news@brand.example', to: rcpt, subject: 'news' })))?.code).toBe(250);
  app.close();
  const mine = () => f.mx.transactions.slice(before).find((t) => t.lines.includes(`RCPT TO:<${rcpt}>`));
  await expect.poll(mine, { timeout: 10_000 }).toBeDefined();
  const returnPath = /^MAIL FROM:<([^>]+)>/.exec(mine()?.lines[0] ?? '')?.[1] ?? '';
  expect(returnPath).toMatch(/^b\+[0-9a-z]{17}-r[0-9a-f]{12}-[0-9a-f]{24}@bounces\.sluice\.test$/);
  expect(returnPath.split('@')[0]?.length).toBe(58);
  expect(mine()?.data.toString('latin1')).toContain('From: <news@brand.example>');
  await expect.poll(() => readEvents(f.sender.events).some((e) => e.event === 'delivered' && e.recipient === rcpt), { timeout: 10_000 }).toBe(true);
  return returnPath;
}

async function mailBack(f: Fleet, to: string, text: string): Promise<void> {
  const c = await RawSmtp.open(f.receiver.port(), { localAddress: OUTSIDER });
  await c.read();
  await c.cmd('EHLO mx.example.net');
  expect((await c.send('', [to], text))?.code).toBe(250);
  c.close();
}

const dsnTo = (f: Fleet, to: string) => f.mx.transactions.filter((t) => t.lines[0]?.startsWith('MAIL FROM:<>') && t.lines.includes(`RCPT TO:<${to}>`));
const bounced = (f: Fleet, rcpt: string) => readEvents(f.receiver.events).find((e) => e.event === 'bounced' && e.recipient === rcpt);

function behaviours(fleet: () => Fleet): void {
  test('a bounce that returns no headers: the original envelope sender gets a DSN naming the failed recipient', async () => {
    const f = fleet();
    const returnPath = await sendAsEsp(f, 'bounces-123@esp.example', 'gone@example.net');
    await f.afterDelivery();
    await mailBack(f, returnPath, headerlessDsn('gone@example.net'));
    await expect.poll(() => dsnTo(f, 'bounces-123@esp.example').length, { timeout: 10_000 }).toBe(1);
    const text = dsnTo(f, 'bounces-123@esp.example')[0]?.data.toString('latin1') ?? '';
    expect(text).toContain('report-type=delivery-status');
    expect(text).toContain('Final-Recipient: rfc822; gone@example.net');
    expect(text).toContain('Status: 5.1.1');
    expect(bounced(f, 'gone@example.net')).toMatchObject({ bounce: { reason: 'userunknown', hard: true } });
    // The header From is no envelope sender: it gets nothing.
    expect(dsnTo(f, 'news@brand.example')).toEqual([]);
  });

  test('a kept sender the token does not vouch for, or a forged From in the returned headers, gets no DSN', async () => {
    const f = fleet();
    const returnPath = await sendAsEsp(f, 'bounces-456@esp.example', 'other@example.net');
    const queueId = (/^b\+([0-9a-z]{17})-/.exec(returnPath)?.[1] ?? '').toUpperCase();
    const store = f.receiver.node.state.senders;
    // Wait for the batch to reach the state, then overwrite it as an attacker with the store's ear would.
    await expect.poll(() => store.get(queueId), { timeout: 10_000 }).toBe('bounces-456@esp.example');
    await f.afterDelivery();
    await store.record([{ queueId, sender: 'victim@example.org' }], 60_000);
    await mailBack(f, returnPath, dsnClaiming('other@example.net', 'forged@example.org'));
    await expect.poll(() => bounced(f, 'other@example.net'), { timeout: 10_000 }).toMatchObject({ bounce: { reason: 'userunknown' } });
    await expect.poll(() => f.receiverLog.find((l) => l.event === 'bounce_not_forwarded' && l['rcpt'] === 'other@example.net'), { timeout: 5_000 }).toBeDefined();
    await new Promise((r) => setTimeout(r, 300));
    for (const to of ['victim@example.org', 'forged@example.org', 'bounces-456@esp.example', 'news@brand.example']) expect(dsnTo(f, to)).toEqual([]);
  });
}

describe('one node, embedded state', () => {
  let mx: RawMx;
  let node: BuiltGateway;
  const log: EventLine[] = [];
  beforeAll(async () => {
    mx = await startRawMx('127.0.0.94');
    node = await startBuiltGateway(config(mx, 'gw-solo', null), log);
  });
  afterAll(async () => {
    await node?.stop();
    await mx?.close();
  });
  behaviours(() => ({ mx, sender: node, receiver: node, receiverLog: log, afterDelivery: async () => undefined }));
});

describe.skipIf(!hasRedis)('a fleet on Redis: node A delivers and stops, node B takes the bounce', () => {
  let redis: PrivateRedis;
  let mx: RawMx;
  const nodes: BuiltGateway[] = [];
  let b: BuiltGateway;
  const log: EventLine[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    mx = await startRawMx('127.0.0.94');
    b = await startBuiltGateway(config(mx, 'gw-b', redis.url), log);
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await b?.stop();
    await mx?.close();
    await redis?.stop();
  });
  let a: BuiltGateway | null = null;
  behaviours(() => ({
    mx,
    get sender(): BuiltGateway {
      if (a === null) throw new Error('node A not started');
      return a;
    },
    receiver: b,
    receiverLog: log,
    afterDelivery: async () => {
      const stopping = nodes.pop();
      await stopping?.stop();
    },
  }));
  // Each behaviour gets a fresh node A (the last one stopped after its delivery).
  beforeEach(async () => {
    a = await startBuiltGateway(config(mx, 'gw-a', redis.url));
    nodes.push(a);
  });
});
