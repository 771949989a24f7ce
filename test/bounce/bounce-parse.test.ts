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

test('auto-replies known by X-Autoreply, Precedence: auto_reply or an out-of-office subject are vacation, even from a "mailer" address', async () => {
  const forms = [
    'From: Vacation Mailer <mailer@rcpt.test>\nTo: app@sender.test\nSubject: Re: your order\nX-Autoreply: yes\n\nI am away.\n',
    'From: pat@rcpt.test\nTo: app@sender.test\nSubject: Re: your order\nPrecedence: auto_reply\n\nI am away.\n',
    'From: pat@rcpt.test\nTo: app@sender.test\nSubject: Automatic reply: your order\n\nI am out until Monday.\n',
    'From: pat@rcpt.test\nTo: app@sender.test\nSubject: =?UTF-8?Q?R=C3=A9ponse_automatique=3A_your_order?=\n\nAbsent.\n',
  ];
  for (const text of forms) expect(await classify(text)).toEqual([expect.objectContaining({ reason: 'vacation', hard: false })]);
  // Exchange puts X-Auto-Response-Suppress on mail of every kind: alone it makes nothing an auto-reply.
  expect(await classify('From: pat@rcpt.test\nTo: app@sender.test\nSubject: lunch?\nX-Auto-Response-Suppress: All\n\nnoon?\n')).toEqual([expect.objectContaining({ reason: 'undefined' })]);
  // A bounce that carries Auto-Submitted (Postfix writes it on every bounce) stays a bounce.
  expect((await classify(DSN.replace('MIME-Version: 1.0', 'Auto-Submitted: auto-replied\r\nMIME-Version: 1.0'))).map((r) => r.reason)).toEqual(['userunknown', 'mailboxfull']);
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

test('a list repeated in a second language: each recipient keeps only its own lines; 5.2.1 "User Unknown" answered to RCPT is an unknown user', async () => {
  const entry = (who: string, reply: string) => [`  ${who}`, `    SMTP error from remote mail server after RCPT TO:<${who}>:`, `    host mx.rcpt.test [192.0.2.12]: ${reply}`];
  const rows = await classify([
    'From: Mail Delivery System <mailer-daemon@mx.sender.test>',
    'To: app@sender.test',
    'Subject: Mail failure.',
    'X-Failed-Recipients: full@rcpt.test,',
    ' gone@rcpt.test',
    '',
    'K sozhaleniyu, Vashe pis\'mo ne mozhet byt\' dostavleno:',
    ...entry('full@rcpt.test', '550 5.2.2 <full@rcpt.test>... Mailbox Full'),
    ...entry('gone@rcpt.test', '550 5.2.1 <gone@rcpt.test>... User Unknown'),
    '**********************',
    'This message was created automatically by mail delivery software.',
    ...entry('full@rcpt.test', '550 5.2.2 <full@rcpt.test>... Mailbox Full'),
    ...entry('gone@rcpt.test', '550 5.2.1 <gone@rcpt.test>... User Unknown'),
  ].join('\n'));
  expect(rows.map((r) => [r.recipient, r.status, r.reason, r.hard])).toEqual([
    ['full@rcpt.test', '5.2.2', 'mailboxfull', false],
    ['gone@rcpt.test', '5.2.1', 'userunknown', true],
  ]);
  expect(rows[1]?.diagnostic).not.toContain('Mailbox Full');
});

test('Sendmail transcript: a recipient refused after >>> DATA is filtered, unless the code is X.1.1', async () => {
  const rows = await classify([
    'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.sender.test>',
    'To: app@sender.test',
    'Subject: Returned mail: see transcript for details',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="s1"',
    '',
    '--s1',
    '',
    '   ----- The following addresses had permanent fatal errors -----',
    '<gone@rcpt.test>',
    '    (reason: 550 5.1.1 <gone@rcpt.test>... User Unknown)',
    '<kept@rcpt.test>',
    '    (reason: 550 5.2.1 <kept@rcpt.test>... User Unknown)',
    '   ----- Transcript of session follows -----',
    '... while talking to mx.rcpt.test.:',
    '>>> DATA',
    '<<< 550 5.2.1 <kept@rcpt.test>... User Unknown',
    '<<< 550 5.1.1 <gone@rcpt.test>... User Unknown',
    '<<< 503 5.0.0 Need RCPT (recipient)',
    '--s1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.sender.test',
    '',
    'Final-Recipient: RFC822; gone@rcpt.test',
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: SMTP; 550 5.1.1 <gone@rcpt.test>... User Unknown',
    '',
    'Final-Recipient: RFC822; kept@rcpt.test',
    'Action: failed',
    'Status: 5.2.1',
    'Diagnostic-Code: SMTP; 550 5.2.1 <kept@rcpt.test>... User Unknown',
    '--s1--',
  ].join('\n'));
  expect(rows.map((r) => [r.recipient, r.reason, r.hard])).toEqual([
    ['gone@rcpt.test', 'userunknown', true],
    ['kept@rcpt.test', 'filtered', false],
  ]);
});

test('codes from the remote reply a relay wraps: SES\'s quoted reply, a bracketed last reply', async () => {
  const dsn = (diag: string) => ['From: MAILER-DAEMON@relay.test', 'To: app@sender.test', 'Subject: Delivery Status Notification (Failure)', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="x"', '', '--x', 'Content-Type: message/delivery-status', '',
    'Reporting-MTA: dns; relay.test', '', 'Final-Recipient: rfc822; who@rcpt.test', 'Action: failed', 'Status: 5.0.0', `Diagnostic-Code: smtp; ${diag}`, '--x--'].join('\n');
  const ses = await classify(dsn("5.1.0 - Unknown address error 550-'5.7.1 <who@rcpt.test>... Access denied' (delivery attempts: 0)"));
  expect(ses[0]).toMatchObject({ status: '5.7.1', replyCode: 550, reason: 'securityerror', hard: false });
  const expired = await classify(dsn('554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>').replace('Status: 5.0.0', 'Status: 4.4.7'));
  expect(expired[0]).toMatchObject({ status: '4.4.2', replyCode: 421, reason: 'expired', hard: false });
});

test('a content-filter gateway\'s "unknown user" without X.1.1 is its filter; a bare "550 : User unknown" is the DATA-stage form', async () => {
  const gateway = (extra: string, reply: string) => classify([
    'From: <MAILER-DAEMON@gw.rcpt.test>', 'To: <app@sender.test>', 'Subject: Delivery Status', extra, '',
    '    --- The following addresses had delivery problems ---', `<who@rcpt.test>   (${reply})`, ''].join('\n'));
  expect((await gateway('X-NAI-Header: Modified by McAfee Email and Web Security Appliance', '550 Unknown user who@rcpt.test'))[0]).toMatchObject({ reason: 'filtered', hard: false });
  expect((await gateway('X-NAI-Header: Modified by McAfee Email and Web Security Appliance', '550 5.1.1 Unknown user who@rcpt.test'))[0]).toMatchObject({ reason: 'userunknown', hard: true });
  expect((await gateway('X-Mailer: some mailer', '550 Unknown user who@rcpt.test'))[0]).toMatchObject({ reason: 'userunknown', hard: true });
  const c = shippedClassifier();
  expect(c.classify({ status: '5.0.0', replyCode: 550, diagnostic: '550 : User unknown' })).toMatchObject({ reason: 'filtered', hard: false });
  expect(c.classify({ status: '5.2.1', replyCode: 550, diagnostic: '550 5.2.1 <a@b.test>... User Unknown' })).toMatchObject({ reason: 'filtered', hard: false });
});

test('Google Groups refusing a post, in the sender\'s language', async () => {
  const rows = await classify([
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>', 'To: app@sender.test', 'Subject: Delivery Status Notification (Failure)',
    'X-Failed-Recipients: team@googlegroups.com', 'Content-Type: text/plain; charset="UTF-8"', '',
    'Bonjour app@sender.test,', "Il se peut que le groupe que vous avez essay\u00e9 de contacter (team) n'existe pas.", ''].join('\n'));
  expect(rows).toEqual([expect.objectContaining({ recipient: 'team@googlegroups.com', reason: 'rejected', hard: false })]);
});

test('texts by their documented meaning', () => {
  const c = shippedClassifier();
  const said = (diagnostic: string, status: string | null = null, replyCode: number | null = null, command: string | null = null) => c.classify({ status, replyCode, diagnostic, command });
  expect(said('User  not listed in public Name & Address Book')).toMatchObject({ reason: 'userunknown', hard: true });
  expect(said('Connected to 192.0.2.1 but my name was rejected. Remote host said: 501 5.0.0 Invalid domain name', '5.0.0', 501, 'EHLO').reason).toBe('blocked');
  expect(said('<a@b.test>: No mx record found for domain=b.test')).toMatchObject({ reason: 'notaccept', hard: true });
  expect(said('500 Remote server does not support TLS (state 6).', null, 500).reason).toBe('failedstarttls');
  expect(said('"Sorry, you are sending to/from an address that has been blacklisted"').reason).toBe('rejected');
  expect(said('550 5.2.0 <a@b.test> From: Domain is invalid. Please provide a valid From:', '5.2.0', 550).reason).toBe('rejected');
  expect(said('550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]', '5.2.0', 550).reason).toBe('spamdetected');
  // RFC 3463 X.0.0 and words no rule knows: a failure without a cause is held, not acted on.
  expect(said('550 5.0.0 <a@b.test>: Recipient address rejected: On hold', '5.0.0', 550)).toMatchObject({ reason: 'onhold', hard: false, status: '5.0.0' });
  expect(said('450 4.0.0 Temporary failure', '4.0.0', 450)).toMatchObject({ reason: 'onhold', hard: false });
  expect(said('Your message could not be handled.')).toMatchObject({ reason: 'undefined', hard: false });
  expect(said('554 <a@b.test>... no access from mail server [192.0.2.55] which is an open relay.', null, 554, 'MAIL').reason).toBe('blocked');
  expect(said('550 5.7.1 Unable to relay; we are not an open relay', '5.7.1', 550, 'RCPT').reason).toBe('norelaying');
  const gaveUp = "I'm not going to try again; this message has been in the queue too long.";
  expect(said(`<a@b.test>: Resources temporarily unavailable, please try again later [#4.1.9]. /${gaveUp}`, '4.1.9').reason).toBe('expired');
  expect(said(`<a@b.test>: Unable to contact LDAP server. (#4.4.3)${gaveUp}`, '4.4.3').reason).toBe('systemerror');
});

test('a bounce known by its explanation alone: a no-reply sender, a subject in another language', async () => {
  const rows = await classify([
    'From: no-reply@mail.isp.test', 'To: app@sender.test', 'Subject: =?UTF-8?B?44Oh44O844Or44Ko44Op44O86YCa55+l?=', 'Content-Type: text/plain; charset="UTF-8"', '',
    'Your mail sent on: Thu, 29 Apr 2013 23:45:22 +0900', '     Could not be delivered to: <who@isp.test>', '     As their mailbox is full.', ''].join('\n'));
  expect(rows).toEqual([expect.objectContaining({ recipient: 'who@isp.test', reason: 'mailboxfull', hard: false })]);
  const verizon = await classify([
    'From: post_master@sms.isp.test', 'To: app@sender.test', 'Subject: Re:Hello', '',
    'Error: Invalid user address', 'Error message below:', '550 - Requested action not taken: no such user here', '', 'Message details:',
    '  MAIL FROM: app@sender.test', '  RCPT TO: 5550100@sms.isp.test', ''].join('\n'));
  expect(verizon).toEqual([expect.objectContaining({ recipient: '5550100@sms.isp.test', replyCode: 550, reason: 'userunknown', hard: true })]);
});

test('Sendmail\'s opening "The original message was received at" is no copy of the message; a DSN\'s "RFC822;" is no RFC complaint', async () => {
  const rows = await classify([
    'From: mailer-daemon@mail.provider.test', 'To: app@sender.test', 'Subject: Mail Delivery Status Notification (Delay)', '',
    'THIS IS A WARNING MESSAGE ONLY.', 'The original message was received at Fri, 12 Dec 2014 03:49:58 -0800', 'from app@sender.test [app@sender.test]',
    '----- The following addresses had fatal errors -----', '[Status: Error, Address: <slow@rcpt.test>, ResponseCode 421, , Host not reachable.]',
    'Message will be retried for 4 more day(s)', ''].join('\n'));
  expect(rows).toEqual([expect.objectContaining({ recipient: 'slow@rcpt.test', replyCode: 421, reason: 'expired', hard: false })]);
  expect(shippedClassifier().classify({ status: '4.4.7', replyCode: null, diagnostic: 'Final-Recipient: RFC822; a@b.test Action: failed Status: 4.4.7 Connection refused by [127.0.0.1]' }).reason).not.toBe('notcompliantrfc');
});

test('every delivery-status part of a message is read, in order', async () => {
  const part = (who: string, status: string) => ['--r', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.sender.test', '', `Final-Recipient: rfc822; ${who}`, 'Action: failed', `Status: ${status}`, ''];
  const rows = await classify(['From: MAILER-DAEMON@mx.sender.test', 'To: app@sender.test', 'Subject: Undelivered Mail Returned to Sender', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="r"', '', ...part('one@rcpt.test', '5.1.1'), ...part('two@rcpt.test', '5.2.2'), '--r--', ''].join('\n'));
  expect(rows.map((r) => [r.recipient, r.reason])).toEqual([['one@rcpt.test', 'userunknown'], ['two@rcpt.test', 'mailboxfull']]);
});

test('Sendmail transcript: a session refused at MAIL FROM is the cause for the recipients listed after it, not the next line', async () => {
  const rows = await classify([
    'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.sender.test>', 'To: app@sender.test', 'Subject: Returned mail: Remote protocol error', '',
    '   ----- Transcript of session follows -----',
    'While talking to mx.rcpt.test:',
    '>>> MAIL From:<app@sender.test>',
    '<<< 501 <app@sender.test>... no access from mail server [192.0.2.55] which is an open relay.',
    '554 <one@rcpt.test>... Remote protocol error',
    '550 rcpt.test (smtp)... 550 Host unknown',
    '554 <two@rcpt.test>... 550 Host unknown (Authoritative answer from name server)',
    'While talking to mx.other.test:',
    '>>> RCPT To:<three@other.test>',
    '<<< 550 <three@other.test>... User unknown',
    '550 <three@other.test>... User unknown', '',
    '   ----- Unsent message follows -----', 'From: app@sender.test', 'To: one@rcpt.test', '', 'hi', ''].join('\n'));
  expect(rows.map((r) => [r.recipient, r.reason, r.hard, r.replyCode])).toEqual([
    ['one@rcpt.test', 'blocked', false, 501],
    ['two@rcpt.test', 'hostunknown', true, 554],
    ['three@other.test', 'userunknown', true, 550],
  ]);
  expect(rows[0]?.diagnostic).toBe('501 <app@sender.test>... no access from mail server [192.0.2.55] which is an open relay.');
  expect(rows[1]?.diagnostic).not.toContain('While talking to');
});

test('a Content-Type folded without white space (boundary= on its own line) still splits the parts', async () => {
  const rows = await classify([
    'From: post_master@sms.rcpt.test', 'To: app@sender.test', 'Subject: Re: offer', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"', '',
    '--outer', 'Content-Type: multipart/alternative;', 'boundary="inner"', '',
    '--inner', 'Content-Type: text/plain; charset=us-ascii', '',
    'Error: Invalid user address', '', 'Error message below:', '550 - Requested action not taken: no such user here', '',
    'Message details:', '  MAIL FROM: app@sender.test', '  RCPT TO: 5550100@sms.rcpt.test', '',
    '--inner--', '', '--outer--', ''].join('\n'));
  expect(rows).toEqual([expect.objectContaining({ recipient: '5550100@sms.rcpt.test', reason: 'userunknown', replyCode: 550 })]);
  expect(rows[0]?.diagnostic).toMatch(/^Error: Invalid user address Error message below: 550 - Requested action not taken: no such user here/);
});
