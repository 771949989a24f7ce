// `sluice bounce classify`: one JSON line per reported recipient, in order, whatever the line ends.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';
import { arfReport } from '../support/feedback.js';

const run = promisify(execFile);

const EXIM = [
  'From: Mail Delivery System <Mailer-Daemon@mx.sender.test>',
  'To: app@sender.test',
  'Subject: Mail delivery failed: returning message to sender',
  'X-Failed-Recipients: gone@rcpt.test, full@rcpt.test',
  '',
  'This message was created automatically by mail delivery software.',
  '',
  'A message that you sent could not be delivered to one or more of its',
  'recipients. This is a permanent error. The following address(es) failed:',
  '',
  '  gone@rcpt.test',
  '    SMTP error from remote mail server after RCPT TO:<gone@rcpt.test>:',
  '    550 5.1.1 <gone@rcpt.test>: Recipient address rejected: User unknown',
  '  full@rcpt.test',
  '    SMTP error from remote mail server after RCPT TO:<full@rcpt.test>:',
  '    552 5.2.2 Mailbox full',
  '',
].join('\n');

test('--json: one line per recipient with status, reply code, reason, hard; LF, CRLF and CR files alike; a non-bounce gives "undefined"', async () => {
  const dir = tempDir();
  const files = { lf: EXIM, crlf: EXIM.replace(/\n/g, '\r\n'), cr: EXIM.replace(/\n/g, '\r') };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.eml`), text, 'latin1');
  writeFileSync(join(dir, 'note.eml'), 'From: pat@rcpt.test\nTo: app@sender.test\nSubject: lunch?\n\nnoon?\n');
  const { stdout } = await run(process.execPath, [CLI, 'bounce', 'classify', '--json', ...['lf', 'crlf', 'cr', 'note'].map((n) => join(dir, `${n}.eml`))]);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toHaveLength(7);
  for (const name of ['lf', 'crlf', 'cr']) {
    const mine = lines.filter((l) => l['file'] === join(dir, `${name}.eml`));
    expect(mine.map((l) => [l['recipient'], l['status'], l['reply_code'], l['reason'], l['hard']])).toEqual([
      ['gone@rcpt.test', '5.1.1', '550', 'userunknown', true],
      ['full@rcpt.test', '5.2.2', '552', 'mailboxfull', false],
    ]);
    expect(Object.keys(mine[0] ?? {})).toEqual(['file', 'recipient', 'status', 'reply_code', 'reason', 'hard', 'diagnostic']);
  }
  expect(lines[6]).toMatchObject({ file: join(dir, 'note.eml'), reason: 'undefined', hard: false });
});

test('--rules: an operator\'s rule file is tried before the shipped rules', async () => {
  const dir = tempDir();
  const rules = join(dir, 'mine.toml');
  // A provider that words a suspended account as "mailbox full" (made up for the test).
  writeFileSync(rules, '[[rules]]\nreason = "suspend"\ntext = "mailbox full"\n');
  writeFileSync(join(dir, 'a.eml'), EXIM);
  const { stdout } = await run(process.execPath, [CLI, 'bounce', 'classify', '--json', '--rules', rules, join(dir, 'a.eml')]);
  expect(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual(['userunknown', 'suspend']);
});

test('a missing file is reported and the exit code is 1; a bad rules file stops with file:line', async () => {
  const dir = tempDir();
  await expect(run(process.execPath, [CLI, 'bounce', 'classify', join(dir, 'nope.eml')])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('nope.eml') });
  const rules = join(dir, 'rules.toml');
  writeFileSync(rules, '[[rules]]\nreason = "blocked"\nstatus = "5.7"\n');
  writeFileSync(join(dir, 'a.eml'), EXIM);
  await expect(run(process.execPath, [CLI, 'bounce', 'classify', '--rules', rules, join(dir, 'a.eml')])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`${rules}:3 rules[0].status`) });
});

test('an ARF report prints "feedback" for its recipient, an auto-reply "vacation"; a mailbox file is read message by message', async () => {
  const dir = tempDir();
  const original = 'Received: from app.test by gw.sluice.test (Sluice) with ESMTP id 00MIGBQ8W0001AB12\r\nFrom: <news@example.com>\r\nTo: <pat@hotmail.test>\r\nSubject: offer\r\n\r\nbody\r\n';
  writeFileSync(join(dir, 'arf.eml'), arfReport('microsoft-jmrp', { sourceIp: '192.0.2.9', mailFrom: 'news@example.com', rcpt: 'pat@hotmail.test', original }));
  writeFileSync(join(dir, 'away.eml'), 'From: Pat <pat@rcpt.test>\r\nTo: app@sender.test\r\nSubject: Automatic reply: offer\r\nAuto-Submitted: auto-replied\r\n\r\nBack Monday.\r\n');
  // Two bounces in one mailbox file (RFC 4155), as a saved folder holds them.
  writeFileSync(join(dir, 'folder.mbox'), `From MAILER-DAEMON  Thu Apr 29 23:34:45 2026\n${EXIM}\nFrom MAILER-DAEMON  Thu Apr 29 23:35:02 2026\n${EXIM.replaceAll('gone@rcpt.test', 'left@rcpt.test').replace(', full@rcpt.test', '').replace(/ {2}full@rcpt\.test\n.*\n.*552 5\.2\.2 Mailbox full\n/, '')}`);
  const { stdout } = await run(process.execPath, [CLI, 'bounce', 'classify', '--json', ...['arf.eml', 'away.eml', 'folder.mbox'].map((n) => join(dir, n))]);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.map((l) => [l['file'], l['recipient'], l['reason'], l['hard']])).toEqual([
    [join(dir, 'arf.eml'), 'pat@hotmail.test', 'feedback', false],
    [join(dir, 'away.eml'), 'pat@rcpt.test', 'vacation', false],
    [join(dir, 'folder.mbox'), 'gone@rcpt.test', 'userunknown', true],
    [join(dir, 'folder.mbox'), 'full@rcpt.test', 'mailboxfull', false],
    [join(dir, 'folder.mbox'), 'left@rcpt.test', 'userunknown', true],
  ]);
  expect(lines[0]?.['diagnostic']).toBe('feedback report: abuse (Hotmail FBL)');
});
