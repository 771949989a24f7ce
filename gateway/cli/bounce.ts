/** `sluice bounce classify`: what Sluice makes of bounce message files, one line per recipient. */
import { readFile } from 'node:fs/promises';
import { parseBounceMessage } from '../bounce/bounce-parse.js';
import { classifyParsed, type ClassifiedRecipient } from '../bounce/bounce-report.js';
import { BounceClassifier } from '../bounce/classify.js';
import { splitMailbox } from '../bounce/mbox.js';
import { loadBounceRules, shippedRulesPath } from '../bounce/rules.js';
import { SluiceError } from '../errors.js';
import { parse } from './args.js';

const USAGE = `Usage: sluice bounce classify [--json] [--rules FILE]... FILE...

Reads message files (LF, CRLF or CR line ends; a mailbox file, RFC 4155, message by
message) and prints, for each recipient a bounce reports, in its order: the reason, hard
or soft, the enhanced status, the reply code and what the server said. A file that is no
bounce prints one line with reason "undefined"
(a feedback report: "feedback"; an auto-reply: "vacation").

  --json        one JSON object per line: {"file","recipient","status","reply_code",
                "reason","hard","diagnostic"}
  --rules FILE  rules tried before the shipped config/bounce-rules.toml (repeatable),
                as [bounces] rules does for a node
`;

export async function bounceCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'classify') throw new SluiceError('USAGE', `unknown bounce command "${sub ?? ''}"\n\n${USAGE}`);
  const args = parse(rest, { json: { type: 'boolean' }, rules: { type: 'string', multiple: true } }, USAGE);
  if (!args) return 0;
  if (args.positionals.length === 0) throw new SluiceError('USAGE', `name at least one message file\n\n${USAGE}`);
  const extra = (args.values.rules as string[] | undefined) ?? [];
  const classifier = new BounceClassifier(loadBounceRules([...extra, shippedRulesPath()]));
  let failed = 0;
  for (const file of args.positionals) {
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      process.stderr.write(`sluice: ${file}: ${(err as Error).message}\n`);
      failed++;
      continue;
    }
    const rows: ClassifiedRecipient[] = [];
    for (const one of splitMailbox(raw)) rows.push(...classifyParsed(await parseBounceMessage(one), classifier));
    for (const r of rows) {
      const out = { file, recipient: r.recipient, status: r.status ?? '', reply_code: r.replyCode === null ? '' : String(r.replyCode), reason: r.reason, hard: r.hard, diagnostic: r.diagnostic };
      process.stdout.write(args.values.json ? `${JSON.stringify(out)}\n` : `${file}\t${out.recipient || '-'}\t${out.reason}\t${out.hard ? 'hard' : 'soft'}\t${out.status || '-'}\t${out.reply_code || '-'}\t${out.diagnostic.slice(0, 160)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}
