import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { LoadtestError } from '../errors.js';
import { waitForPort } from './free-port.js';
import { ProcSampler, type ProcUsage } from './proc-sampler.js';

export interface GatewayStartOptions {
  /** the node binary (process.execPath of the load test) */
  readonly node: string;
  /** dist/gateway/cli/main.js of the project (package.json "bin") */
  readonly cli: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly host: string;
  readonly port: number;
  readonly startTimeoutMs: number;
  readonly now: () => number;
  readonly signal?: AbortSignal;
}

/**
 * The Sluice node under test: `node <cli> start --config <file>` as a child process (the
 * node process itself, so its pid is what /proc is sampled for), output to a log file in
 * the work dir.
 */
export class GatewayProcess {
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exitPromise: Promise<void>;
  readonly sampler: ProcSampler;

  private constructor(
    private readonly child: ChildProcess,
    private readonly opts: GatewayStartOptions,
  ) {
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
    this.sampler = new ProcSampler(() => child.pid ?? 0, opts.now);
    child.on('error', () => undefined); // reported by untilListening()
  }

  /** Spawns the node; register its teardown, then await `untilListening()`. */
  static spawn(opts: GatewayStartOptions): GatewayProcess {
    if (!existsSync(opts.cli)) {
      throw new LoadtestError('GATEWAY_FAILED', `no gateway at ${opts.cli}: build the project first (npm run build), or pass --target host:port`);
    }
    const fd = openSync(opts.logFile, 'a');
    try {
      const child = spawn(opts.node, [opts.cli, 'start', '--config', opts.configFile], { stdio: ['ignore', fd, fd] });
      return new GatewayProcess(child, opts);
    } finally {
      closeSync(fd);
    }
  }

  async untilListening(): Promise<void> {
    const { opts } = this;
    await new Promise<void>((resolve, reject) => {
      if (this.child.pid) return resolve();
      this.child.once('spawn', resolve);
      this.child.once('error', (err) => reject(new LoadtestError('GATEWAY_FAILED', `cannot start ${opts.cli}: ${err.message}`, { cause: err })));
    });
    this.sampler.start();
    const up = await waitForPort(opts.host, opts.port, opts.startTimeoutMs, () => this.exitInfo !== null || opts.signal?.aborted === true);
    if (opts.signal?.aborted) throw new LoadtestError('INTERRUPTED', 'interrupted while the gateway started');
    if (!up) {
      const why = this.exitInfo ? `exited (${this.describeExit()})` : `did not listen on ${opts.host}:${opts.port} within ${opts.startTimeoutMs / 1000}s`;
      await this.stop();
      throw new LoadtestError('GATEWAY_FAILED', `the Sluice node ${why}; last lines of ${opts.logFile}:\n${this.logTail(15)}`);
    }
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get exited(): boolean {
    return this.exitInfo !== null;
  }

  describeExit(): string {
    if (!this.exitInfo) return 'running';
    return this.exitInfo.signal ? `signal ${this.exitInfo.signal}` : `exit code ${this.exitInfo.code}`;
  }

  /** CPU and peak RSS so far; call before stop(). */
  usage(): ProcUsage {
    return this.sampler.finish();
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exitInfo) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  /** For process 'exit' handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    if (!this.exitInfo) this.child.kill('SIGKILL');
  }

  logTail(lines: number): string {
    try {
      return readFileSync(this.opts.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
