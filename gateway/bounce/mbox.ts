/**
 * A message file that is a mailbox (RFC 4155 "application/mbox": each message opened by a
 * "From sender date" line, as a mail spool or a saved folder holds bounces): its messages,
 * in order. Any other file is one message. Line ends may be LF, CRLF or CR.
 */

/** RFC 4155 §2: "From ", the envelope sender (no spaces), a space, then a timestamp. */
const SEPARATOR = /^From \S+ +\S.*$/;

export function splitMailbox(raw: Buffer): Buffer[] {
  const text = raw.toString('latin1');
  const lines = text.split(/\r\n|\r|\n/);
  if (!SEPARATOR.test(lines[0] ?? '')) return [raw];
  const eol = /\r\n|\r|\n/.exec(text)?.[0] ?? '\n';
  const messages: string[][] = [];
  lines.forEach((line, i) => {
    // A separator opens a message only at the start or after an empty line (§2: the
    // previous message ends with one).
    if (SEPARATOR.test(line) && (i === 0 || lines[i - 1] === '')) messages.push([]);
    else messages.at(-1)?.push(line);
  });
  return messages.map((m) => Buffer.from(m.join(eol), 'latin1')).filter((b) => b.toString('latin1').trim() !== '');
}
