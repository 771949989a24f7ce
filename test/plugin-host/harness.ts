/**
 * A real node for plugin tests: config written to a temp dir, a relay listener on a
 * port the OS picks, every domain routed to a test MX by `[dns.static]`.
 *
 * The node is imported from dist/: the plugin host resolves built-in names to
 * dist/plugins/<name>/index.js next to its own file, so run `npx tsc -p tsconfig.json`
 * before these tests (the vitest setup does not build).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../dist/gateway/config/load.js';
import { SluiceNode } from '../../dist/gateway/node.js';
import { hashPassword } from '../../dist/gateway/ingress/passwords.js';
import { RawSmtp, type Reply } from '../support/smtp-client.js';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(ROOT, 'dist/gateway/cli/main.js');
export const EXAMPLE_PLUGIN = join(ROOT, 'plugins/examples/subject-filter.mjs');

/** The test MX listens here; sources bind 127.0.0.21 and up, so the MX tells them apart by peer IP. */
export const MX_HOST = '127.0.0.20';

if (!existsSync(join(ROOT, 'dist/plugins/classify/index.js'))) {
  throw new Error('dist/ is not built: run `npx tsc -p tsconfig.json` first (built-in plugins load from dist/plugins)');
}

export function tempDir(prefix = 'sluice-plugin-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface NodeToml {
  /** `[plugins] order`. */
  readonly plugins: readonly string[];
  /** `host:port` of the test MX. */
  readonly mx: string;
  /** `[plugins] timeout`, e.g. "300ms". */
  readonly timeout?: string;
  /** More TOML appended as is (plugin tables, pools, users…). */
  readonly extra?: string;
  /** A submission listener (STARTTLS + AUTH) after the relay one; needs [[users]] in `extra`. */
  readonly submission?: boolean;
}

export function nodeToml(dir: string, o: NodeToml): string {
  return `
[node]
id = "n1"
data_dir = ${JSON.stringify(join(dir, 'data'))}
hostname = "relay.test"
drain_timeout = "2s"
min_free_disk = 0

[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
tls = "none"
${o.submission === true ? '\n[[listen]]\nhost = "127.0.0.1"\nport = 0\nmode = "submission"\ntls = "starttls"\n' : ''}
[relay]
networks = ["127.0.0.0/8"]

[delivery]
tls = "none"
connect_timeout = "5s"
idle_timeout = "200ms"

[dns.static]
"*" = ${JSON.stringify(o.mx)}

[plugins]
order = ${JSON.stringify(o.plugins)}
${o.timeout !== undefined ? `timeout = ${JSON.stringify(o.timeout)}` : ''}

${o.extra ?? ''}
`;
}

export interface RunningNode {
  readonly node: SluiceNode;
  readonly dir: string;
  readonly configFile: string;
  /** The relay listener's port. */
  readonly port: number;
  /** The submission listener's port (when asked for). */
  readonly submissionPort: number | null;
  stop(): Promise<void>;
}

/** Writes the config into `dir` (a fresh temp dir by default) and starts a node on it. */
export async function startNode(o: NodeToml, dir = tempDir(), logLines?: string[]): Promise<RunningNode> {
  return startNodeFrom(writeConfig(dir, o), dir, logLines);
}

/** Writes `<dir>/sluice.toml` (for the CLI before a first start, or a restart); returns its path. */
export function writeConfig(dir: string, o: NodeToml): string {
  const configFile = join(dir, 'sluice.toml');
  writeFileSync(configFile, nodeToml(dir, o));
  return configFile;
}

/** `logLines`, when given, receives every JSON log line (level info and up). */
export async function startNodeFrom(configFile: string, dir: string, logLines?: string[]): Promise<RunningNode> {
  const logger = logLines === undefined ? pino({ level: process.env['SLUICE_TEST_LOG'] ?? 'silent' }) : pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const node = new SluiceNode({ loaded: loadConfig(configFile), logger });
  try {
    await node.start();
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
  let stopped = false;
  return {
    node,
    dir,
    configFile,
    port: node.ports[0] as number,
    submissionPort: node.ports[1] ?? null,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await node.stop();
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A connected client that has read the greeting and said EHLO. */
export async function client(port: number, opts: { localAddress?: string; helo?: string } = {}): Promise<RawSmtp> {
  const c = await RawSmtp.open(port, opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {});
  const greeting = await c.read();
  if (greeting?.code !== 220) {
    c.close();
    throw new Error(`no greeting: ${greeting?.code} ${greeting?.text}`);
  }
  const ehlo = await c.cmd(`EHLO ${opts.helo ?? 'app.test'}`);
  if (ehlo?.code !== 250) throw new Error(`EHLO refused: ${ehlo?.code} ${ehlo?.text}`);
  return c;
}

/** A client on the submission port, after STARTTLS and AUTH PLAIN. */
export async function authedClient(port: number, user: string, password: string): Promise<RawSmtp> {
  const c = await client(port);
  await c.starttls();
  const ehlo = await c.cmd('EHLO app.test');
  if (ehlo?.code !== 250) throw new Error(`EHLO after STARTTLS refused: ${ehlo?.code}`);
  const auth = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  if (auth?.code !== 235) throw new Error(`AUTH refused: ${auth?.code} ${auth?.text}`);
  return c;
}

/** `[[users]]` with a real scrypt hash of `password`. */
export async function userToml(name: string, password: string): Promise<string> {
  return `[[users]]\nname = ${JSON.stringify(name)}\npassword_hash = ${JSON.stringify(await hashPassword(password))}\n`;
}

/** "550 5.7.1 text" as the client saw it. */
export function wire(r: Reply | null): string {
  return r === null ? 'connection closed' : `${r.code} ${r.text}`;
}

/** The header block of a message the MX received, lines unfolded. */
export function headerLines(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return (end < 0 ? text : text.slice(0, end)).replace(/\r\n(?=[ \t])/g, '').split('\r\n');
}

export { message, RawSmtp, type Reply } from '../support/smtp-client.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `sluice <args>` from dist/ as a child process, as an operator would. */
export function sluice(args: readonly string[], opts: { input?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolvePromise({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
