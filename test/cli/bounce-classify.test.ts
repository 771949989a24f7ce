// `sluice bounce classify`: one JSON line per reported recipient, in order, whatever the line ends.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';

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

test('a missing file is reported and the exit code is 1; a bad rules file stops with file:line', async () => {
  const dir = tempDir();
  await expect(run(process.execPath, [CLI, 'bounce', 'classify', join(dir, 'nope.eml')])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('nope.eml') });
  const rules = join(dir, 'rules.toml');
  writeFileSync(rules, '[[rules]]\nreason = "blocked"\nstatus = "5.7"\n');
  writeFileSync(join(dir, 'a.eml'), EXIM);
  await expect(run(process.execPath, [CLI, 'bounce', 'classify', '--rules', rules, join(dir, 'a.eml')])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`${rules}:3 rules[0].status`) });
});
