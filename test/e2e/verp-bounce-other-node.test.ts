// A bounce for a message long gone, arriving at another node: node A delivers (its
// envelope sender a VERP address) and is stopped; the bounce, mailed to node B (same
// [bounces] secret, same sources), still becomes a `bounced` outcome naming A's source,
// pool and provider, with its reason, and counts in B's health window for (source,
// provider): the token carries everything, no spool or event log of A's is needed.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { readEvents, startBuiltGateway, type BuiltGateway } from '../support/feedback.js';

let mx: RawMx;
let a: BuiltGateway;
let b: BuiltGateway;

function config(nodeId: string): string {
  return `
[node]
id = "${nodeId}"
data_dir = "\${DIR}/data"
hostname = "${nodeId}.sluice.test"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "127.0.0.92:${mx.port}"
[sources.promo1]
ip = "127.0.0.93"
ehlo = "promo1.sluice.test"
[pools.promotional]
sources = ["promo1"]
[classify]
default = "promotional"
[providers.gmail]
domains = ["gmail.test"]
[suppression]
action = "reject"
[events]
file = "\${DIR}/events.jsonl"
[bounces]
domain = "bounces.sluice.test"
secret = "fleet-verp-secret-0123456789"
`;
}

beforeAll(async () => {
  mx = await startRawMx('127.0.0.92');
  a = await startBuiltGateway(config('gw-a'));
  b = await startBuiltGateway(config('gw-b'));
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await mx?.close();
});

test('node B turns a bounce for node A\'s delivered message into an outcome with source, pool and provider', async () => {
  const app = await RawSmtp.open(a.port());
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('news@example.com', ['closed@gmail.test'], message({ from: 'news@example.com', to: 'closed@gmail.test' })))?.code).toBe(250);
  app.close();
  await expect.poll(() => mx.transactions.length, { timeout: 10_000 }).toBe(1);
  const returnPath = /^MAIL FROM:<([^>]+)>/.exec(mx.transactions[0]?.lines[0] ?? '')?.[1] ?? '';
  expect(returnPath).toMatch(/^b\+[0-9a-z]{17}-r/);
  await expect.poll(() => readEvents(a.events).some((e) => e.event === 'delivered'), { timeout: 10_000 }).toBe(true);
  await a.stop();

  // Gmail's synchronous-looking text, as a bounce mailed back later from another host.
  const bounce = [
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'Subject: Delivery Status Notification (Failure)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="g"',
    '',
    '--g',
    'Content-Type: text/plain',
    '',
    "The email account that you tried to reach is disabled.",
    '',
    '--g',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    '',
    'Final-Recipient: rfc822; closed@gmail.test',
    'Action: failed',
    'Status: 5.2.1',
    'Diagnostic-Code: smtp; 550-5.2.1 The email account that you tried to reach is disabled.',
    '',
    '--g--',
    '',
  ].join('\r\n');
  const gmail = await RawSmtp.open(b.port(), { localAddress: '127.0.0.97' });
  await gmail.read();
  await gmail.cmd('EHLO mail-sor-f41.google.com');
  expect((await gmail.send('', [returnPath.toUpperCase().replace('B+', 'b+')], bounce))?.code).toBe(250);
  gmail.close();

  await expect.poll(() => readEvents(b.events).find((e) => e.event === 'bounced'), { timeout: 10_000 }).toMatchObject({
    recipient: 'closed@gmail.test',
    source: 'promo1',
    pool: 'promotional',
    provider: 'gmail',
    enhanced: '5.2.1',
    bounce: { reason: 'suspend', hard: false },
  });
  await expect.poll(async () => (await b.node.state.health.counts('promo1', 'gmail', 3_600_000)).bounced, { timeout: 5_000 }).toBe(1);
  // A suspended account is a soft bounce: no suppression.
  expect(await b.node.state.suppression.check('closed@gmail.test')).toBeNull();
});
