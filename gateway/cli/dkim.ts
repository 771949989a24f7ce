/** `sluice dkim keygen`: a new DKIM key where the config will find it, the TXT record and the config lines. */
import { dirname, join, relative, resolve, sep } from 'node:path';
import { configPath } from '../config/paths.js';
import { dkimKeygen } from './dkim-keygen.js';
import { SluiceError } from '../errors.js';
import { parse, required } from './args.js';

const USAGE = `Usage: sluice dkim keygen --domain D --selector S [--config FILE] [--dir DIR] [--data-dir ROOT] [--algorithm rsa|ed25519] [--bits 2048]

Writes the private key to DIR/D.S.pem (mode 0600; never overwrites), prints the TXT
record to publish at S._domainkey.D and the exact [[dkim.keys]] lines to add.

  --config FILE    the config that will use the key: DIR is relative to FILE's directory
                   (as every path in the config is), default certs/dkim beside FILE, and
                   the printed key = "…" is relative to that directory.
  --dir DIR        without --config: relative to the current directory (default certs/dkim);
                   the printed key = "…" is then an absolute path.
  --data-dir ROOT  the node's data root (default: $SLUICE_DATA_DIR, which the container
                   image sets to /data): without --dir the key goes to ROOT/dkim, where
                   it survives the container, and the printed key = "…" is absolute.
`;

export async function dkimCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'keygen') throw new SluiceError('USAGE', `unknown dkim command "${sub ?? ''}"\n\n${USAGE}`);
  const args = parse(rest, { domain: { type: 'string' }, selector: { type: 'string' }, algorithm: { type: 'string', default: 'rsa' }, bits: { type: 'string' }, dir: { type: 'string' }, 'data-dir': { type: 'string' }, config: { type: 'string', short: 'c' } }, USAGE);
  if (!args) return 0;
  const algorithm = args.values.algorithm;
  if (algorithm !== 'rsa' && algorithm !== 'ed25519') throw new SluiceError('USAGE', `--algorithm must be rsa or ed25519\n\n${USAGE}`);
  // Config paths resolve against the config file's directory (config/load.ts): write there.
  const config = typeof args.values.config === 'string' ? resolve(args.values.config) : undefined;
  const base = config !== undefined ? dirname(config) : process.cwd();
  const dirArg = args.values.dir as string | undefined;
  // What a node writes lives under its data root (SLUICE_DATA_DIR): in a container the
  // config's directory is a read-only mount and anything else is lost with the container.
  const root = (args.values['data-dir'] as string | undefined) ?? process.env['SLUICE_DATA_DIR'];
  const underRoot = dirArg === undefined && root !== undefined && root !== '';
  const dir = underRoot ? join(resolve(root), 'dkim') : configPath(base, dirArg ?? 'certs/dkim');
  const domain = required(args.values.domain, '--domain', USAGE);
  const selector = required(args.values.selector, '--selector', USAGE);
  const r = await dkimKeygen({ domain, selector, algorithm, ...(args.values.bits ? { bits: Number(args.values.bits) } : {}), dir });
  // Relative to the config's directory, as load.ts resolves it ("../keys/x.pem" included).
  const relativeKey = config !== undefined && !underRoot;
  const keyPath = relativeKey ? relative(base, r.path).split(sep).join('/') : r.path;
  const where = config === undefined ? 'the config' : relativeKey ? `${config} (key is relative to its directory)` : config;
  const d = r.txtName.slice(r.txtName.indexOf('._domainkey.') + '._domainkey.'.length);
  const s = r.txtName.slice(0, r.txtName.indexOf('._domainkey.'));
  process.stdout.write(
    `private key: ${r.path}\n\nPublish this TXT record:\n${r.txtName}. IN TXT "${r.txtValue}"\n\n` +
      `Add to ${where}, then run sluice check-config:\n[[dkim.keys]]\ndomain = "${d}"\nselector = "${s}"\nkey = ${JSON.stringify(keyPath)}\n`,
  );
  return 0;
}
