// VERP and the bounce intake end to end on real sockets: a message leaves with the
// envelope sender b+<token>@<[bounces] domain> (bytes of MAIL FROM at the MX) and its own
// From; a DSN mailed back to that address from a client outside relay.networks gets 250
// and becomes a `bounced` outcome with its reason (event log, webhook, metric), the hard
// one suppresses the address, and with forward = true the original sender gets a DSN of
// its own from the null sender. A bounce that lost its token is tied by our X-Sluice-FBL
// in the returned headers; a delay notice is not a bounce; an ARF report mailed to the
// return path reaches the [feedback] intake. An auto-reply, a forged token and a bounce for another
// recipient are answered 250 and not acted on; nothing sent to the domain is relayed.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { EventRecord } from '../../gateway/observe/event-types.js';
import { relayConfig } from '../support/gateway.js';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { arfReport, metricValue, readEvents, startBuiltGateway, type BuiltGateway, type EventLine } from '../support/feedback.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const DOMAIN = 'bounces.sluice.test';
const VERP = /^MAIL FROM:<(b\+[0-9a-z]{17}-r[0-9a-f]{12}-[0-9a-f]{24}@bounces\.sluice\.test)>/;
const OUTSIDER = '127.0.0.98';
let mx: RawMx;
let hook: WebhookReceiver;
let gw: BuiltGateway;
const log: EventLine[] = [];

beforeAll(async () => {
  mx = await startRawMx('127.0.0.90');
  hook = await startWebhookReceiver();
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.90:${mx.port}`, node: 'hostname = "gw.sluice.test"', source: { name: 'tx1', ip: '127.0.0.91' } }, `
[suppression]
action = "reject"
[events]
file = "\${DIR}/events.jsonl"
[[events.webhooks]]
url = "${hook.url}"
events = ["bounced"]
secret = "whsec-verp-0123456789abcdef"
[feedback]
addresses = ["fbl@feedback.sluice.test"]
secret = "fbl-secret-0123456789abcdef"
[bounces]
domain = "${DOMAIN}"
secret = "verp-secret-0123456789abcdef"
forward = true
`),
    log,
  );
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await hook?.close();
});

async function session(localAddress?: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), localAddress ? { localAddress } : {});
  await c.read();
  await c.cmd('EHLO client.test');
  return c;
}

async function sendOne(from: string, rcpt: string): Promise<{ returnPath: string; data: string }> {
  const before = mx.transactions.length;
  const app = await session();
  expect((await app.send(from, [rcpt], message({ from, to: rcpt, subject: `to ${rcpt}` })))?.code).toBe(250);
  app.close();
  const mine = () => mx.transactions.slice(before).find((t) => t.lines.includes(`RCPT TO:<${rcpt}>`));
  await expect.poll(mine, { timeout: 10_000 }).toBeDefined();
  const t = mine();
  const mail = t?.lines.find((l) => l.startsWith('MAIL FROM:')) ?? '';
  return { returnPath: VERP.exec(mail)?.[1] ?? `no VERP address in ${mail}`, data: t?.data.toString('latin1') ?? '' };
}

/** An RFC 3464 DSN as Postfix writes it, quoting the returned message's header. */
function dsn(rcpt: string, status: string, diagnostic: string, returned: string): string {
  const head = returned.slice(0, returned.indexOf('\r\n\r\n'));
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    'To: whoever',
    'Subject: Undelivered Mail Returned to Sender',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain',
    '',
    `<${rcpt}>: host mx.example.net said: ${diagnostic}`,
    '',
    '--B1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    `Status: ${status}`,
    'Remote-MTA: dns; mx.example.net',
    `Diagnostic-Code: smtp; ${diagnostic}`,
    '',
    '--B1',
    'Content-Type: text/rfc822-headers',
    '',
    head,
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

async function mailBack(to: string, text: string): Promise<string> {
  const c = await session(OUTSIDER);
  const reply = await c.send('', [to], text);
  c.close();
  return `${reply?.code} ${reply?.text}`;
}

const bounced = () => readEvents(gw.events).filter((e) => e.event === 'bounced');

test('the envelope sender is a VERP address; a hard bounce mailed back is a bounced outcome, suppressed, and forwarded as a DSN', async () => {
  const sent = await sendOne('news@example.com', 'gone@example.net');
  expect(sent.returnPath).toMatch(/^b\+/);
  expect(sent.returnPath.split('@')[0]?.length).toBeLessThanOrEqual(64);
  // The original sender stays in the headers.
  expect(sent.data).toContain('From: <news@example.com>');

  const before = mx.transactions.length;
  expect(await mailBack(sent.returnPath, dsn('gone@example.net', '5.1.1', '550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown', sent.data))).toMatch(/^250 2\.0\.0 Ok: bounce received/);

  await expect.poll(() => bounced().length, { timeout: 10_000 }).toBe(1);
  expect(bounced()[0]).toMatchObject({ recipient: 'gone@example.net', source: 'tx1', pool: 'transactional', enhanced: '5.1.1', reply: '550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown', bounce: { reason: 'userunknown', hard: true } });
  await hook.until(1);
  const posted = JSON.parse(hook.requests[0]?.body ?? '[]') as EventRecord[];
  expect(posted[0]).toMatchObject({ event: 'bounced', recipient: 'gone@example.net', bounce: { reason: 'userunknown', hard: true } });
  expect(metricValue(await gw.node.registry.metrics(), 'sluice_messages_bounced_total', { reason: 'userunknown' })).toBe(1);

  for (let i = 0; i < 400 && (await gw.node.state.suppression.check('gone@example.net')) === null; i++) await new Promise((r) => setTimeout(r, 10));
  expect(await gw.node.state.suppression.check('gone@example.net')).toMatchObject({ reason: 'hard-bounce', source: expect.stringMatching(/^bounce from mx\.example\.net/) });

  // forward = true: the original sender gets a DSN of its own, from the null sender.
  await expect.poll(() => mx.transactions.length, { timeout: 10_000 }).toBeGreaterThan(before);
  const fwd = mx.transactions[before];
  expect(fwd?.lines[0]).toMatch(/^MAIL FROM:<>( |$)/);
  expect(fwd?.lines[1]).toBe('RCPT TO:<news@example.com>');
  const text = fwd?.data.toString('latin1') ?? '';
  expect(text).toContain('report-type=delivery-status');
  expect(text).toContain('Final-Recipient: rfc822; gone@example.net');
  expect(text).toContain('Status: 5.1.1');
});

test('a soft bounce is an outcome with its reason and no suppression', async () => {
  const sent = await sendOne('news@example.com', 'full@example.net');
  expect(await mailBack(sent.returnPath, dsn('full@example.net', '5.2.2', '552 5.2.2 Mailbox full', sent.data))).toMatch(/^250 /);
  await expect.poll(() => bounced().filter((e) => e.recipient === 'full@example.net').length, { timeout: 10_000 }).toBe(1);
  expect(bounced().find((e) => e.recipient === 'full@example.net')).toMatchObject({ bounce: { reason: 'mailboxfull', hard: false } });
  expect(await gw.node.state.suppression.check('full@example.net')).toBeNull();
});

test('a bounce that lost its token is tied by our X-Sluice-FBL in the returned headers', async () => {
  const sent = await sendOne('news@example.com', 'moved@example.net');
  expect(sent.data).toMatch(/^X-Sluice-FBL: 1\./m);
  // Mailed to a plain address at the bounce domain (a forwarder rewrote the return path).
  expect(await mailBack(`bounces@${DOMAIN}`, dsn('moved@example.net', '5.1.6', '551 5.1.6 User has moved; please try <new@example.org>', sent.data))).toMatch(/^250 /);
  await expect.poll(() => bounced().find((e) => e.recipient === 'moved@example.net'), { timeout: 10_000 }).toMatchObject({ source: null, pool: 'transactional', class: 'transactional', bounce: { reason: 'hasmoved', hard: true } });
});

test('two recipients at one domain share a token bound to the domain: a bounce for one of them counts, one for another domain does not', async () => {
  const before = mx.transactions.length;
  const app = await session();
  expect((await app.send('news@example.com', ['one@example.com.test', 'two@example.com.test'], message({ from: 'news@example.com', to: 'one@example.com.test' })))?.code).toBe(250);
  app.close();
  const mine = () => mx.transactions.slice(before).find((t) => t.lines.includes('RCPT TO:<two@example.com.test>'));
  await expect.poll(mine, { timeout: 10_000 }).toBeDefined();
  const returnPath = /^MAIL FROM:<(b\+[0-9a-z]{17}-d[0-9a-f]{12}-[0-9a-f]{24}@bounces\.sluice\.test)>/.exec(mine()?.lines[0] ?? '')?.[1] ?? 'no domain-bound VERP address';
  const data = mine()?.data.toString('latin1') ?? '';
  expect(await mailBack(returnPath, dsn('two@example.com.test', '5.1.1', '550 5.1.1 User unknown', ''))).toMatch(/^250 /);
  await expect.poll(() => bounced().find((e) => e.recipient === 'two@example.com.test'), { timeout: 10_000 }).toMatchObject({ bounce: { reason: 'userunknown', hard: true } });
  // Our X-Sluice-FBL of a two-recipient message names neither: it alone acts on nothing.
  expect(await mailBack(`bounces@${DOMAIN}`, dsn('one@example.com.test', '5.1.1', '550 5.1.1 User unknown', data))).toMatch(/^250 /);
  expect(await mailBack(returnPath, dsn('one@elsewhere.test', '5.1.1', '550 5.1.1 User unknown', ''))).toMatch(/^250 /);
  await new Promise((r) => setTimeout(r, 300));
  expect(bounced().filter((e) => e.recipient === 'one@example.com.test' || e.recipient === 'one@elsewhere.test')).toEqual([]);
});

test('a delay notice is no bounce; a feedback report mailed to the return path goes to the [feedback] intake', async () => {
  const sent = await sendOne('news@example.com', 'slow@example.net');
  const delayed = dsn('slow@example.net', '4.4.1', '421 4.4.1 Connection timed out', sent.data).replace('Action: failed', 'Action: delayed');
  expect(await mailBack(sent.returnPath, delayed)).toMatch(/^250 /);
  const report = arfReport('yahoo-cfl', { sourceIp: '127.0.0.91', mailFrom: sent.returnPath, original: sent.data, reportId: 'verp-arf-1' });
  expect(await mailBack(sent.returnPath, report)).toMatch(/^250 2\.0\.0 Ok: feedback report received/);
  await expect.poll(() => readEvents(gw.events).find((e) => e.event === 'complained' && e.recipient === 'slow@example.net'), { timeout: 10_000 }).toMatchObject({ source: 'tx1', feedback: { type: 'abuse', matched_by: 'header' } });
  expect(bounced().filter((e) => e.recipient === 'slow@example.net')).toEqual([]);
  expect(metricValue(await gw.node.registry.metrics(), 'sluice_bounces_received_total', { result: 'not_failed' })).toBe(1);
});

test('an auto-reply, a forged token and a bounce naming another recipient are answered 250 and not acted on', async () => {
  const sent = await sendOne('news@example.com', 'away@example.net');
  const n = bounced().length;
  const autoReply = ['From: away@example.net', 'To: news@example.com', 'Subject: Out of office', 'Auto-Submitted: auto-replied', '', 'I am away until Monday.', ''].join('\r\n');
  expect(await mailBack(sent.returnPath, autoReply)).toMatch(/^250 2\.0\.0 Ok: auto-reply, not a bounce/);

  // A token with one hex digit of its MAC changed ties nothing (the bounce returns no
  // headers: our X-Sluice-FBL in them would tie it, and rightly).
  const local = sent.returnPath.split('@')[0] ?? '';
  const forged = `${local.slice(0, -1)}${local.endsWith('0') ? '1' : '0'}@${DOMAIN}`;
  expect(await mailBack(forged, dsn('away@example.net', '5.1.1', '550 5.1.1 User unknown', ''))).toMatch(/^250 /);
  // The real token copied onto a bounce for another address ties nothing either.
  expect(await mailBack(sent.returnPath, dsn('victim@example.org', '5.1.1', '550 5.1.1 User unknown', ''))).toMatch(/^250 /);

  await new Promise((r) => setTimeout(r, 300));
  expect(bounced().slice(n)).toEqual([]);
  const metrics = await gw.node.registry.metrics();
  expect(metricValue(metrics, 'sluice_bounces_received_total', { result: 'auto_reply' })).toBe(1);
  expect(metricValue(metrics, 'sluice_bounces_received_total', { result: 'unmatched' })).toBe(3);
  expect(await gw.node.state.suppression.check('away@example.net')).toBeNull();
  expect(await gw.node.state.suppression.check('victim@example.org')).toBeNull();
});

test('the bounce domain is no open relay: only it is taken from an outsider, and nothing sent there leaves', async () => {
  const before = mx.transactions.length;
  const c = await session(OUTSIDER);
  expect((await c.cmd('MAIL FROM:<spammer@example.org>'))?.code).toBe(250);
  expect((await c.cmd('RCPT TO:<victim@example.org>'))?.code).toBe(550);
  // RFC 5321 §4.5.1: the bounce domain's postmaster is a postmaster, not a bounce address.
  expect((await c.cmd(`RCPT TO:<postmaster@${DOMAIN}>`))?.code).toBe(250);
  expect((await c.cmd(`RCPT TO:<anything@${DOMAIN}>`))?.code).toBe(452);
  expect((await c.cmd('RSET'))?.code).toBe(250);
  expect((await c.cmd('MAIL FROM:<spammer@example.org>'))?.code).toBe(250);
  expect((await c.cmd(`RCPT TO:<anything@${DOMAIN}>`))?.code).toBe(250);
  expect((await c.cmd('DATA'))?.code).toBe(354);
  c.write(Buffer.from('From: spammer@example.org\r\nSubject: buy now\r\n\r\nhello\r\n.\r\n'));
  expect((await c.read())?.text).toMatch(/^2\.0\.0 Ok: not a bounce, discarded/);
  c.close();
  await new Promise((r) => setTimeout(r, 300));
  expect(mx.transactions.length).toBe(before);
});

test('returned headers without our token or X-Sluice-FBL: our Received id or the Message-ID tie the bounce in the log, 250, and nothing is acted on', async () => {
  const sent = await sendOne('news@example.com', 'copied@example.net');
  const queueId = /\(Sluice\) with E?SMTPS?A? id ([0-9A-Z]+)/.exec(sent.data)?.[1] ?? 'no Received id of ours';
  const n = bounced().length;
  // What a forwarder keeps of our header section: our Received field, no X-Sluice-FBL.
  const received = sent.data.split('\r\n\r\n')[0]?.split(/\r\n(?![ \t])/).filter((f) => /^Received:/i.test(f) && f.includes('(Sluice)')).join('\r\n') ?? '';
  expect(received).toContain(queueId);
  const viaReceived = `${received}\r\nFrom: <news@example.com>\r\nTo: <copied@example.net>\r\n\r\n`;
  expect(await mailBack(`bounces@${DOMAIN}`, dsn('copied@example.net', '5.1.1', '550 5.1.1 User unknown', viaReceived))).toMatch(/^250 2\.0\.0 Ok: bounce received/);
  const viaMessageId = 'Message-ID: <order-42@shop.example.com>\r\nFrom: <news@example.com>\r\nTo: <copied@example.net>\r\n\r\n';
  expect(await mailBack(`bounces@${DOMAIN}`, dsn('copied@example.net', '5.1.1', '550 5.1.1 User unknown', viaMessageId))).toMatch(/^250 2\.0\.0 Ok: bounce received/);

  const unmatched = () => log.filter((l) => l.event === 'bounce_unmatched' && l['rcpt'] === 'copied@example.net');
  await expect.poll(() => unmatched().length, { timeout: 10_000 }).toBe(2);
  expect(unmatched()[0]).toMatchObject({ matched_by: 'received', queue_id: queueId, skipped: 'unverified', reason: 'userunknown', hard: true });
  expect(unmatched()[1]).toMatchObject({ matched_by: 'message-id', message_id: '<order-42@shop.example.com>', skipped: 'unverified' });
  await new Promise((r) => setTimeout(r, 300));
  expect(bounced().slice(n)).toEqual([]);
  expect(await gw.node.state.suppression.check('copied@example.net')).toBeNull();
});
