/**
 * `sluice health`: asks the running node whether it is alive (or, with --ready, ready for
 * mail). Through the admin listener's /healthz (/readyz) when the config has [admin];
 * otherwise through the node's health socket, `<data_dir>/sluice.sock`, which every node
 * opens whatever its config says. Exit 0: healthy (ready); 1: not; the reason on stderr.
 * What a container HEALTHCHECK and a systemd watchdog script run.
 */
import { request } from 'node:http';
import { healthSocketPath } from '../observe/health-socket.js';
import { parseDuration } from '../config/units.js';
import { configPath } from '../config/paths.js';
import { SluiceError } from '../errors.js';
import { configFile, loadForCli, parse } from './args.js';

const USAGE = `Usage: sluice health [--config FILE] [--data-dir DIR] [--ready] [--timeout DURATION]

Asks the node running with FILE (default: $SLUICE_CONFIG) whether it is alive: through
its [admin] listener (GET /healthz) when the config has one, else through the health
socket the node keeps in its data dir (DIR, $SLUICE_DATA_DIR or [node] data_dir).

  --ready             ask /readyz instead: exit 1 while the node is draining, low on
                      disk or without its shared state (what a balancer should ask)
  --timeout DURATION  give up after this long (default "3s")

Exit 0 when the node answers healthy (ready), 1 otherwise, with the reason on stderr.
`;

interface Answer {
  readonly status: number;
  readonly body: string;
}

export async function healthCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, ready: { type: 'boolean' }, timeout: { type: 'string' } }, USAGE);
  if (!args) return 0;
  const timeoutText = (args.values['timeout'] as string | undefined) ?? '3s';
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === null) throw new SluiceError('USAGE', `--timeout "${timeoutText}" is not a duration such as "3s"\n\n${USAGE}`);
  const { config, baseDir } = loadForCli(configFile(args.values.config, USAGE), (args.values['data-dir'] as string | undefined) ?? process.env['SLUICE_DATA_DIR']);
  const path = args.values['ready'] ? '/readyz' : '/healthz';
  const target = config.admin ? { kind: 'admin' as const, ...adminAddress(config.admin.listen) } : { kind: 'socket' as const, socketPath: healthSocketPath(configPath(baseDir, config.node.data_dir)) };
  const where = target.kind === 'admin' ? `the admin listener ${config.admin?.listen ?? ''}` : `the health socket ${target.socketPath}`;
  let answer: Answer;
  try {
    answer = await get(target.kind === 'admin' ? { host: target.host, port: target.port } : { socketPath: target.socketPath }, path, timeoutMs);
  } catch (err) {
    process.stderr.write(`unhealthy: no answer from ${where}: ${(err as Error).message} (is the node running with this config?)\n`);
    return 1;
  }
  if (answer.status === 200) {
    process.stdout.write(`${path === '/healthz' ? 'healthy' : 'ready'}: ${answer.body}\n`);
    return 0;
  }
  process.stderr.write(`${path === '/healthz' ? 'unhealthy' : 'not ready'}: ${where} answered ${answer.status} ${answer.body}\n`);
  return 1;
}

/** The admin listener's address as a client reaches it: a wildcard bind is asked on loopback. */
function adminAddress(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const wildcard = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return { host: wildcard, port: Number(listen.slice(at + 1)) };
}

function get(where: { host: string; port: number } | { socketPath: string }, path: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ ...where, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: oneLine(body) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** JSON on one line (the admin listener indents its answers). */
function oneLine(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return body.trim();
  }
}
