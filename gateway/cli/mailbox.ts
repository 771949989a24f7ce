/**
 * `sluice mailbox`: a local mailbox to try Sluice on one machine, without root and without
 * sending anything off it. It takes every message over SMTP on a loopback address and
 * writes it to DIR as a .eml file, printing one line per message (who sent it from which
 * address, so the source IP Sluice picked can be seen). config/local.toml delivers here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { SluiceError } from '../errors.js';
import { parse } from './args.js';

const USAGE = `Usage: sluice mailbox [--listen 127.0.0.1:2526] [--dir ./mailbox]

A local test mailbox: accepts every message on a loopback address (no TLS, no AUTH) and
writes it to DIR/<time>-<n>.eml, printing one line per message. For trying Sluice on one
machine: config/local.toml sends every domain here ([dns.static] "*").
Stop it with Ctrl-C.
`;

export async function mailboxCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { listen: { type: 'string', default: '127.0.0.1:2526' }, dir: { type: 'string', default: 'mailbox' } }, USAGE);
  if (!args) return 0;
  const listen = String(args.values.listen);
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(listen);
  const host = m?.[1]?.replace(/^\[|\]$/g, '') ?? '';
  const port = Number(m?.[2]);
  // Loopback only: this takes anyone's mail without asking, so it must not face a network.
  if (!m || port > 65535 || !(host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.')))) {
    throw new SluiceError('USAGE', `--listen must be a loopback host:port such as 127.0.0.1:2526, not "${listen}"\n\n${USAGE}`);
  }
  const dir = resolve(String(args.values.dir));
  await mkdir(dir, { recursive: true });
  let n = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    banner: 'sluice mailbox (local test sink)',
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => {
        const file = join(dir, `${Date.now()}-${++n}.eml`);
        const body = Buffer.concat(chunks);
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        writeFile(file, body).then(
          () => {
            process.stdout.write(`received from ${session.remoteAddress} (EHLO ${session.hostNameAppearsAs}): <${from}> -> ${to}, ${body.length} bytes: ${file}\n`);
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  await new Promise<void>((res, rej) => {
    server.once('error', (err: NodeJS.ErrnoException) => rej(new SluiceError('LISTEN_FAILED', err.code === 'EADDRINUSE' ? `cannot bind ${listen}: the port is in use by another process — pick another with --listen` : `cannot bind ${listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => res());
  });
  process.stdout.write(`mailbox listening on ${listen}, writing to ${dir}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return -1;
}
