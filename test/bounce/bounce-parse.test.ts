/** Bounce parsing and classification on hand-written samples of the forms real MTAs send. */
import { expect, test } from 'vitest';
import { parseBounceMessage } from '../../gateway/bounce/bounce-parse.js';
import { classifyParsed } from '../../gateway/bounce/bounce-report.js';
import { shippedClassifier } from '../../gateway/bounce/categories.js';

const classify = async (text: string) => classifyParsed(await parseBounceMessage(Buffer.from(text, 'latin1')), shippedClassifier());

const DSN = [
  'From: Mail Delivery System <MAILER-DAEMON@mx.sender.test>',
  'To: <app@sender.test>',
  'Subject: Undelivered Mail Returned to Sender',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain',
  '',
  '<gone@rcpt.test>: host mx.rcpt.test[192.0.2.7] said: 550 5.1.1 <gone@rcpt.test>: Recipient',
  '    address rejected: User unknown in local recipient table (in reply to RCPT TO command)',
  '<full@rcpt.test>: host mx.rcpt.test[192.0.2.7] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)',
  '',
  '--b1',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.sender.test',
  '',
  'Final-Recipient: rfc822; gone@rcpt.test',
  'Action: failed',
  'Status: 5.1.1',
  'Diagnostic-Code: smtp; 550 5.1.1 <gone@rcpt.test>: Recipient address rejected: User',
  '    unknown in local recipient table',
  '',
  'Final-Recipient: rfc822; full@rcpt.test',
  'Action: failed',
  'Status: 4.2.2',
  'Diagnostic-Code: smtp; 452 4.2.2 Mailbox full',
  '',
  '--b1',
  'Content-Type: text/rfc822-headers',
  '',
  'Received: from app.test by gw.sluice.test (Sluice) with ESMTP id 00MIGBQ8W0001AB12',
  'Message-ID: <m1@sender.test>',
  'From: <app@sender.test>',
  'To: <gone@rcpt.test>',
  '',
  '--b1--',
  '',
].join('\r\n');

test('RFC 3464 DSN: each recipient in order with status, reply code and reason; the returned headers', async () => {
  const parsed = await parseBounceMessage(Buffer.from(DSN));
  expect(parsed.kind).toBe('bounce');
  if (parsed.kind !== 'bounce') return;
  expect(parsed.returned?.messageId).toBe('<m1@sender.test>');
  expect(parsed.returned?.received[0]).toContain('(Sluice) with ESMTP id 00MIGBQ8W0001AB12');
  const rows = classifyParsed(parsed, shippedClassifier());
  expect(rows.map((r) => [r.recipient, r.status, r.replyCode, r.reason, r.hard])).toEqual([
    ['gone@rcpt.test', '5.1.1', 550, 'userunknown', true],
    ['full@rcpt.test', '4.2.2', 452, 'mailboxfull', false],
  ]);
});

test('the same DSN with LF or CR line ends reads the same', async () => {
  const crlf = await classify(DSN);
  expect(await classify(DSN.replace(/\r\n/g, '\n'))).toEqual(crlf);
  expect(await classify(DSN.replace(/\r\n/g, '\r'))).toEqual(crlf);
});

test('qmail text bounce: recipient from "<addr>:", code from the remote reply', async () => {
  const rows = await classify([
    'From: MAILER-DAEMON@mx.sender.test',
    'To: app@sender.test',
    'Subject: failure notice',
    '',
    'Hi. This is the qmail-send program at mx.sender.test.',
    "I'm afraid I wasn't able to deliver your message to the following addresses.",
    '',
    '<nobody@rcpt.test>:',
    'Remote host said: 550 No such user here',
    '',
    '--- Below this line is a copy of the message.',
    '',
    'From: app@sender.test',
    'To: nobody@rcpt.test',
    '',
    'hi',
  ].join('\n'));
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ recipient: 'nobody@rcpt.test', replyCode: 550, reason: 'userunknown', hard: true, status: '5.1.1' });
});

test('Exim: X-Failed-Recipients names the recipients; a refusal of MAIL FROM is "rejected", not a bad address', async () => {
  const rows = await classify([
    'From: Mail Delivery System <Mailer-Daemon@mx.sender.test>',
    'To: app@sender.test',
    'Subject: Mail delivery failed: returning message to sender',
    'X-Failed-Recipients: someone@rcpt.test',
    '',
    'This message was created automatically by mail delivery software.',
    '',
    'A message that you sent could not be delivered to one or more of its',
    'recipients. This is a permanent error. The following address(es) failed:',
    '',
    '  someone@rcpt.test',
    '    SMTP error from remote mail server after MAIL FROM:<app@sender.test> SIZE=1234:',
    '    550 5.1.8 Sender address rejected: Domain not found',
  ].join('\n'));
  expect(rows).toEqual([expect.objectContaining({ recipient: 'someone@rcpt.test', status: '5.1.8', reason: 'rejected', hard: false })]);
});

test('a temporary failure is never hard, even for an unknown user', async () => {
  const c = shippedClassifier().classify({ status: '4.1.1', replyCode: 450, diagnostic: 'User unknown' });
  expect(c).toMatchObject({ reason: 'userunknown', hard: false });
  expect(shippedClassifier().classify({ status: '5.1.1', replyCode: 550, diagnostic: 'User unknown' }).hard).toBe(true);
});

test('an auto-reply (RFC 3834) is no bounce; mail that is nothing gives one "undefined" row', async () => {
  const auto = await parseBounceMessage(Buffer.from('From: Pat <pat@rcpt.test>\nTo: app@sender.test\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nBack Monday.\n'));
  expect(auto.kind).toBe('auto-reply');
  expect(classifyParsed(auto, shippedClassifier())).toEqual([expect.objectContaining({ recipient: 'pat@rcpt.test', reason: 'vacation', hard: false })]);
  const none = await classify('From: pat@rcpt.test\nTo: app@sender.test\nSubject: lunch?\n\nnoon?\n');
  expect(none).toEqual([expect.objectContaining({ reason: 'undefined', hard: false })]);
});

test('synchronous replies go through the same rules', async () => {
  const { classifyResponse, isHardBounce } = await import('../../gateway/bounce/categories.js');
  const r = (code: number, enhanced: string | null, text: string) => ({ code, enhanced, text, command: 'RCPT TO', local: false });
  expect(classifyResponse(r(550, '5.1.1', 'The email account that you tried to reach does not exist.')).reason).toBe('userunknown');
  expect(isHardBounce(r(550, '5.1.1', 'The email account that you tried to reach does not exist.'))).toBe(true);
  expect(classifyResponse(r(550, '5.7.1', 'Service unavailable, Client host [192.0.2.1] blocked using Spamhaus')).reason).toBe('blocked');
  expect(isHardBounce(r(550, '5.7.1', 'Service unavailable, Client host [192.0.2.1] blocked using Spamhaus'))).toBe(false);
  expect(isHardBounce({ ...r(550, '5.1.1', 'User unknown'), local: true })).toBe(false);
  expect(classifyResponse(r(552, '5.2.2', 'Mailbox full')).reason).toBe('mailboxfull');
});
