// VERP across a fleet (separate processes, one private Redis): n1 delivers with a VERP
// envelope sender and is killed -9; the bounce, mailed to n2 (same [bounces] secret),
// becomes n2's `bounced` outcome naming n1's source, and the hard bounce lands on the
// fleet's shared suppression list, where every node sees it.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startFleet, waitUntil, type Fleet } from '../support/fleet.js';

let mx: RawMx;
let fleet: Fleet;

beforeAll(async () => {
  mx = await startRawMx('127.0.0.94');
  fleet = await startFleet({
    nodes: 2,
    shared: `
[dns.static]
"*" = "127.0.0.94:${mx.port}"
[sources.tx1]
ip = "127.0.0.95"
ehlo = "tx1.sluice.test"
node = "n1"
[pools.transactional]
sources = ["tx1"]
[suppression]
action = "reject"
[bounces]
domain = "bounces.sluice.test"
secret = "fleet-verp-secret-0123456789"
`,
  });
}, 180_000);
afterAll(async () => {
  await fleet?.stop();
  await mx?.close();
});

test('a bounce for n1\'s delivery, mailed to n2 after n1 died, is n2\'s outcome and the fleet\'s suppression', async () => {
  const n1 = fleet.node('n1');
  const n2 = fleet.node('n2');
  const app = await RawSmtp.open(n1.ports.smtp);
  await app.read();
  await app.cmd('EHLO app.test');
  expect((await app.send('news@example.com', ['gone@example.net'], message({ from: 'news@example.com', to: 'gone@example.net' })))?.code).toBe(250);
  app.close();
  const mail = await waitUntil('the delivery at the MX', () => mx.transactions[0]?.lines[0], 30_000);
  const returnPath = /^MAIL FROM:<([^>]+)>/.exec(mail)?.[1] ?? '';
  expect(returnPath).toMatch(/^b\+[0-9a-z]{17}-r[0-9a-f]{12}-[0-9a-f]{24}@bounces\.sluice\.test$/);
  await n1.kill9();

  const bounce = [
    'From: MAILER-DAEMON@mx.example.net',
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    'Final-Recipient: rfc822; gone@example.net',
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
    '',
    '--b--',
    '',
  ].join('\r\n');
  const remote = await RawSmtp.open(n2.ports.smtp, { localAddress: '127.0.0.96' });
  await remote.read();
  await remote.cmd('EHLO mx.example.net');
  expect((await remote.send('', [returnPath], bounce))?.code).toBe(250);
  remote.close();

  const [received] = await waitUntil('bounce_received on n2', () => (n2.events('bounce_received').length > 0 ? n2.events('bounce_received') : null), 20_000);
  expect(received).toMatchObject({ rcpt: 'gone@example.net', reason: 'userunknown', hard: true, matched_by: 'token', source: 'tx1', pool: 'transactional' });
  const check = await waitUntil('the suppression entry', async () => {
    const r = await n2.api('/api/suppression/gone@example.net');
    return (r.body as { suppressed: boolean }).suppressed ? r.body : null;
  }, 10_000);
  expect(check).toMatchObject({ entry: { reason: 'hard-bounce' } });
});
