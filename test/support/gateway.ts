/**
 * Starts a real Sluice node in-process from a TOML snippet, in a fresh temp data dir,
 * with listeners on free ports. `cli()` starts one as a child process instead (for
 * kill -9 and signal tests) from the built dist/.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../gateway/config/load.js';
import { SluiceNode } from '../../gateway/node.js';
import type { Clock } from '../../gateway/state/types.js';
import { afterAll, beforeAll } from 'vitest';
import { startTestMx, type TestMx, type TestMxOptions } from './test-mx.js';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(ROOT, 'dist/gateway/cli/main.js');

export interface TestGateway {
  readonly node: SluiceNode;
  readonly dir: string;
  readonly configFile: string;
  /** The TOML it was started with (before ${DIR} was replaced), to start it again. */
  readonly configText: string;
  /** The bound port of the n-th [[listen]]. */
  port(n?: number): number;
  stop(): Promise<void>;
}

export interface RelayConfig {
  /** Every domain's MX, `host:port` ([dns.static] "*"). */
  readonly mx: string;
  /** More lines for the [node] table (e.g. `hostname = "gw.test"`). */
  readonly node?: string;
  /** One source, the only member of `pool`. */
  readonly source?: { readonly name: string; readonly ip: string };
  /** The pool the source serves (default "transactional"). */
  readonly pool?: string;
  /** An [admin] listener on 127.0.0.1. */
  readonly admin?: { readonly port: number; readonly token: string };
}

/**
 * The TOML most end-to-end tests start from: a data dir in the test's temp dir (`${DIR}`),
 * one relay listener on 127.0.0.1 (the OS picks the port) open to 127.0.0.1/32, every
 * domain's MX at `o.mx`, optionally one source in a pool and an admin listener; `extra`
 * adds the tables a test is about.
 */
export function relayConfig(o: RelayConfig, extra = ''): string {
  const lines = ['[node]', 'data_dir = "${DIR}/data"', ...(o.node ? [o.node] : []), '[[listen]]', 'host = "127.0.0.1"', 'port = 0', 'mode = "relay"', '[relay]', 'networks = ["127.0.0.1/32"]', '[dns.static]', `"*" = "${o.mx}"`];
  if (o.source) lines.push(`[sources.${o.source.name}]`, `ip = "${o.source.ip}"`, `ehlo = "${o.source.name}.sluice.test"`, `[pools.${o.pool ?? 'transactional'}]`, `sources = ["${o.source.name}"]`);
  if (o.admin) lines.push('[admin]', `listen = "127.0.0.1:${o.admin.port}"`, `token = "${o.admin.token}"`);
  return `${lines.join('\n')}\n${extra}`;
}

export function tempDir(prefix = 'sluice-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `toml` (with `${DIR}` replaced by the temp dir) and starts a node on it (`clock`: a FakeClock, for windows and lifetimes). */
export async function startGateway(toml: string, dir = tempDir(), clock?: Clock): Promise<TestGateway> {
  const configFile = join(dir, 'sluice.toml');
  writeFileSync(configFile, toml.replaceAll('${DIR}', dir));
  const loaded = loadConfig(configFile);
  const logger = pino({ level: process.env['SLUICE_TEST_LOG'] ?? 'silent' });
  const node = new SluiceNode({ loaded, logger, ...(clock ? { clock } : {}) });
  await node.start();
  return {
    node,
    dir,
    configFile,
    configText: toml,
    port: (n = 0) => node.ports[n] as number,
    stop: () => node.stop(),
  };
}

export interface CliNode {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when the log shows `event` (e.g. "started"). */
  waitFor(event: string, timeoutMs?: number): Promise<void>;
  exited(): Promise<number | null>;
}

/** Starts `sluice start --config FILE ARGS` as a child process (`nodeArgs`: options for node itself, e.g. --cpu-prof). */
export function startCli(configFile: string, args: string[] = [], nodeArgs: string[] = []): CliNode {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'start', '--config', configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { event: string; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      if (out.includes(`"event":"${w.event}"`)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exit = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return {
    child,
    output: () => out,
    waitFor: (event, timeoutMs = 20_000) =>
      new Promise((res, rej) => {
        if (out.includes(`"event":"${event}"`)) return res();
        const t = setTimeout(() => rej(new Error(`no "${event}" within ${timeoutMs} ms; output:\n${out.slice(-3000)}`)), timeoutMs);
        waiters.push({ event, resolve: () => (clearTimeout(t), res()) });
      }),
    exited: () => exit,
  };
}

export interface RelayToMx {
  readonly mx: TestMx;
  readonly gw: TestGateway;
  /** Stops the node and starts it again on the same data dir (a restart). */
  restart(): Promise<void>;
}

/**
 * Registers beforeAll/afterAll for the common e2e setup: a test MX on `mxHost` and a node
 * with one relay listener (any free port) that sends every domain to that MX. `extra` is
 * appended TOML (more tables: [relay], [sources.x], [pools.x], …).
 */
export function useRelayToMx(mxHost: string, extra = '', mxOptions: Omit<TestMxOptions, 'host'> = {}): RelayToMx {
  let mx: TestMx | undefined;
  let gw: TestGateway | undefined;
  beforeAll(async () => {
    mx = await startTestMx({ ...mxOptions, host: mxHost });
    gw = await startGateway(`
[node]
data_dir = "\${DIR}/data"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "${mxHost}:${mx.port}"
${extra}`);
  });
  afterAll(async () => {
    await gw?.stop();
    await mx?.close();
  });
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} not started (use inside a test)`);
    return v;
  };
  return {
    get mx() {
      return need(mx, 'test MX');
    },
    get gw() {
      return need(gw, 'gateway');
    },
    async restart() {
      const g = need(gw, 'gateway');
      await g.stop();
      gw = await startGateway(g.configText, g.dir);
    },
  };
}
