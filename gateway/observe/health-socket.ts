/**
 * The node's health socket: `<data_dir>/sluice.sock`, a unix socket that answers
 * GET /healthz and GET /readyz exactly as the admin listener does. It exists whatever
 * the config says (no [admin], an admin bound to another address), so `sluice health`
 * and a container HEALTHCHECK can always ask the running node itself. Only processes
 * that can open data_dir reach it (the socket is 0600), so it carries no token.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from './logger.js';
import type { Readiness } from './admin-server.js';

export const HEALTH_SOCKET = 'sluice.sock';
/** sockaddr_un.sun_path is 108 bytes on Linux, 104 on the BSDs, with the final NUL. */
const MAX_SOCKET_PATH = 103;

export interface HealthSocketDeps {
  readonly node: string;
  readonly readiness: () => Readiness | Promise<Readiness>;
  readonly log: Logger;
}

export function healthSocketPath(dataDir: string): string {
  return join(dataDir, HEALTH_SOCKET);
}

export class HealthSocket {
  readonly #server: Server;
  readonly #path: string;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
  }

  /** Listens on `<dataDir>/sluice.sock`; null (and a warning) when the path is too long for a socket. */
  static async open(dataDir: string, deps: HealthSocketDeps): Promise<HealthSocket | null> {
    const path = healthSocketPath(dataDir);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      deps.log.warn({ event: 'health_socket_skipped', path }, `no health socket: ${path} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes); "sluice health" needs [admin] on this node`);
      return null;
    }
    // A socket file left by a node that was killed: nobody listens on it any more.
    await unlink(path).catch(() => undefined);
    const server = createServer((req, res) => {
      void answer(req.method ?? '', req.url ?? '', res, deps);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
    return new HealthSocket(server, path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await unlink(this.#path).catch(() => undefined);
  }
}

async function answer(method: string, url: string, res: ServerResponse, deps: HealthSocketDeps): Promise<void> {
  const path = url.split('?')[0];
  if (method === 'GET' && path === '/healthz') return send(res, 200, { ok: true, node: deps.node });
  if (method === 'GET' && path === '/readyz') {
    let r: Readiness;
    try {
      r = await deps.readiness();
    } catch (err) {
      deps.log.warn({ err }, 'readiness check failed');
      r = { ready: false, reasons: ['readiness check failed'] };
    }
    return send(res, r.ready ? 200 : 503, { ready: r.ready, node: deps.node, reasons: r.reasons });
  }
  send(res, 404, { error: 'not found: this socket answers GET /healthz and GET /readyz' });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
