/** ARF (RFC 5965) parsing of the Yahoo- and Microsoft-style fixtures and of what is not a report. */
import { expect, test } from 'vitest';
import { parseArf } from '../../gateway/bounce/arf.js';
import { message } from '../support/smtp-client.js';
import { arfReport } from '../support/feedback.js';

const ORIGINAL = [
  'Received: from app.test ([127.0.0.1]) by gw.sluice.test (Sluice) with ESMTP id 00MIGBQ8W0001AB12 for <reader@yahoo.test>; Thu, 26 Nov 2026 10:00:00 +0000',
  'From: <news@example.com>',
  'To: Reader <reader@yahoo.test>',
  'Subject: Weekly digest',
  'Message-ID: <digest-42@example.com>',
  'X-Campaign-ID: spring-sale',
  '',
  'hello',
  '',
].join('\r\n');

test('Yahoo CFL: fields, reporter, and the whole original message', async () => {
  const r = await parseArf(Buffer.from(arfReport('yahoo-cfl', { sourceIp: '192.0.2.10', mailFrom: 'news@example.com', original: ORIGINAL })));
  expect(r.kind).toBe('report');
  if (r.kind !== 'report') return;
  expect(r.report).toMatchObject({ feedbackType: 'abuse', userAgent: 'Yahoo!-Mail-Feedback/2.0', version: '0.1', originalMailFrom: 'news@example.com', originalRcptTo: [], sourceIp: '192.0.2.10', reportedDomains: ['example.com'], reporter: 'feedback@arf.mail.yahoo.com', arrivalDate: 'Thu, 26 Nov 2026 10:15:02 +0000' });
  expect(r.report.original?.get('Message-ID')).toBe('<digest-42@example.com>');
  expect(r.report.original?.get('x-campaign-id')).toBe('spring-sale');
  expect(r.report.original?.to).toEqual(['reader@yahoo.test']);
  expect(r.report.original?.getAll('received')[0]).toContain('(Sluice) with ESMTP id 00MIGBQ8W0001AB12');
});

test('Microsoft JMRP: Original-Rcpt-To and the original header only (text/rfc822-headers)', async () => {
  const r = await parseArf(Buffer.from(arfReport('microsoft-jmrp', { sourceIp: '[192.0.2.11]', mailFrom: 'news@example.com', rcpt: 'Someone@Hotmail.test', original: ORIGINAL })));
  expect(r.kind).toBe('report');
  if (r.kind !== 'report') return;
  expect(r.report).toMatchObject({ feedbackType: 'abuse', userAgent: 'Hotmail FBL', originalRcptTo: ['Someone@Hotmail.test'], sourceIp: '192.0.2.11', reporter: 'staff@hotmail.com' });
  expect(r.report.original?.get('subject')).toBe('Weekly digest');
});

test('a plain message is not a report; a feedback-report without its report part is malformed', async () => {
  expect(await parseArf(Buffer.from(message({ subject: 'Confirm your enrolment' })))).toMatchObject({ kind: 'not-report', subject: 'Confirm your enrolment' });
  const noPart = ['From: <f@p.test>', 'Content-Type: multipart/report; report-type=feedback-report; boundary="x"', '', '--x', 'Content-Type: text/plain', '', 'hi', '--x--', ''].join('\r\n');
  expect(await parseArf(Buffer.from(noPart))).toMatchObject({ kind: 'malformed', from: 'f@p.test' });
  const noType = arfReport('yahoo-cfl', { sourceIp: '192.0.2.10', mailFrom: 'a@b.test', original: ORIGINAL }).replace('Feedback-Type: abuse\r\n', '');
  expect(await parseArf(Buffer.from(noType))).toMatchObject({ kind: 'malformed', reason: 'no Feedback-Type field' });
  expect(await parseArf(Buffer.from('\x00\x01 not mail at all'))).toMatchObject({ kind: 'not-report' });
});
