/** `sluice hash-password`: one password on stdin → a hash for [[users]] password_hash. */
import { hashPassword } from '../ingress/passwords.js';
import { SluiceError } from '../errors.js';
import { parse } from './args.js';

const USAGE = `Usage: printf '%s' 'the-password' | sluice hash-password

Reads one password from standard input (a trailing newline is ignored) and prints a
scrypt hash to put in [[users]] password_hash.
`;

export async function hashPasswordCommand(argv: string[]): Promise<number> {
  if (!parse(argv, {}, USAGE)) return 0;
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new SluiceError('USAGE', `no password on standard input\n\n${USAGE}`);
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
