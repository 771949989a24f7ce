import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Graceful stop (SIGTERM), waits for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL: Redis dies mid-run, as in a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill or stop). */
  restart(): Promise<void>;
  /** SIGSTOP: Redis hangs with its sockets open, as under a stall or a partition. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

/**
 * Path of redis-server, or null: tests then skip their Redis runs with a message. Under
 * CI (CI=true) a missing binary is an error instead, so a CI run can never pass by
 * skipping the shared-state tests (.ci/run installs redis-server).
 */
export function redisServerPath(env: NodeJS.ProcessEnv = process.env): string | null {
  const found = spawnSync('which', ['redis-server'], { encoding: 'utf8', env: { ...process.env, PATH: env['PATH'] ?? '' } });
  const path = found.status === 0 ? found.stdout.trim() : '';
  if (path !== '') return path;
  if (env['CI'] === 'true') throw new Error('redis-server is not installed: with CI=true the Redis tests fail instead of skipping (install it: apt-get install redis-server)');
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One raw PING over a socket: independent of the client under test. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs}ms`);
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a private redis-server on a free loopback port, with no persistence. */
export async function startRedis(binary = redisServerPath()): Promise<PrivateRedis> {
  if (binary === null) throw new Error('redis-server is not installed');
  const port = await freePort();
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    const proc = spawn(
      binary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    child = proc;
    await waitForPing(port, proc, 5_000);
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = null;
    if (proc === null) return;
    proc.kill('SIGCONT'); // a paused server would not act on SIGTERM
    proc.kill(signal);
    await waitForExit(proc);
  };

  await launch();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGKILL');
      await launch();
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}
