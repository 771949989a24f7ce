/** `sluice dkim keygen`: a new DKIM key under certs/dkim/ and the DNS TXT record to publish. */
import { dkimKeygen } from './dkim-keygen.js';
import { SluiceError } from '../errors.js';
import { parse, required } from './args.js';

const USAGE = `Usage: sluice dkim keygen --domain D --selector S [--algorithm rsa|ed25519] [--bits 2048] [--dir certs/dkim]

Writes the private key to DIR/D.S.pem (mode 0600; never overwrites) and prints the TXT
record to publish at S._domainkey.D. Then add to the config:
  [[dkim.keys]]
  domain = "D"
  selector = "S"
  key = "DIR/D.S.pem"
`;

export async function dkimCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'keygen') throw new SluiceError('USAGE', `unknown dkim command "${sub ?? ''}"\n\n${USAGE}`);
  const args = parse(rest, { domain: { type: 'string' }, selector: { type: 'string' }, algorithm: { type: 'string', default: 'rsa' }, bits: { type: 'string' }, dir: { type: 'string', default: 'certs/dkim' } }, USAGE);
  if (!args) return 0;
  const algorithm = args.values.algorithm;
  if (algorithm !== 'rsa' && algorithm !== 'ed25519') throw new SluiceError('USAGE', `--algorithm must be rsa or ed25519\n\n${USAGE}`);
  const r = await dkimKeygen({
    domain: required(args.values.domain, '--domain', USAGE),
    selector: required(args.values.selector, '--selector', USAGE),
    algorithm,
    ...(args.values.bits ? { bits: Number(args.values.bits) } : {}),
    dir: args.values.dir as string,
  });
  process.stdout.write(`private key: ${r.path}\n\nPublish this TXT record:\n${r.txtName}. IN TXT "${r.txtValue}"\n`);
  return 0;
}
