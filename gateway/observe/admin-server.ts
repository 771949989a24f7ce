/**
 * The admin HTTP listener (`[admin]`): /metrics, /healthz, /readyz, the JSON API in
 * admin-routes.ts and the dashboard page. node:http, no framework.
 *
 * Everything but /healthz, /readyz and the static dashboard files (which hold no data;
 * the page asks the API with the token) needs `Authorization: Bearer <token>`, compared
 * in constant time. Each API request is logged with who asked: the remote address and
 * a fingerprint of the token (the first 8 hex digits of its SHA-256), never the token.
 * Wrong tokens are limited per client IP across the fleet (`token_failure_limit`): past
 * the limit every request from that IP gets 429 with Retry-After, right token or not,
 * until the lock-out ends (RFC 6585 §4).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { SluiceError } from '../errors.js';
import { listenError } from '../listen-error.js';
import type { Logger } from './logger.js';
import { AdminError, type AdminControl } from './admin-control.js';
import { BadRequest, ROUTES, type Reply, type RouteDeps } from './admin-routes.js';
import { loadDashboardAssets, type Asset } from './dashboard-assets.js';
import type { AlertView } from './event-types.js';
import type { StatsReader } from './stats.js';
import type { GuessAttempt } from '../state/guess-limiter.js';

/** `[admin]` as the config parsed it. */
export interface AdminOptions {
  /** "127.0.0.1:8925", "[::1]:8925", or a bare port (then 127.0.0.1). */
  readonly listen: string;
  readonly token?: string;
  /** A file holding the token (trailing newline ignored); read at start. */
  readonly token_file?: string;
  /** Request bodies above this are refused with 413 (default 64 KiB). */
  readonly max_body?: number;
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready ("state backend unreachable", "draining", "spool recovering"…). */
  readonly reasons: readonly string[];
}

export interface AdminServerDeps {
  readonly node: string;
  readonly control: AdminControl;
  readonly registry: Registry;
  readonly readiness: () => Readiness | Promise<Readiness>;
  readonly stats: StatsReader;
  /** The longest /api/stats window (OutcomeStats.spanMs; default 1 h). */
  readonly statsSpanMs?: number;
  readonly alerts: { active(): readonly AlertView[]; recent(): readonly AlertView[] };
  readonly log: Logger;
  /** Wrong-token limits, charged per client IP (`{ ip }`) before the token is compared. */
  readonly tokenGuesses: { begin(parts: { ip: string }): Promise<GuessAttempt> };
  /** Queue inspection and actions (issue 17). */
  readonly queue?: RouteDeps['queue'];
}

export class AdminServer {
  readonly #options: AdminOptions;
  readonly #deps: AdminServerDeps;
  readonly #routeDeps: RouteDeps;
  #server: Server | null = null;
  #tokenHash: Buffer | null = null;
  #assets = new Map<string, Asset>();

  constructor(options: AdminOptions, deps: AdminServerDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#routeDeps = {
      control: deps.control,
      registry: deps.registry,
      stats: deps.stats,
      statsSpanMs: deps.statsSpanMs ?? 3_600_000,
      alerts: deps.alerts,
      ...(deps.queue ? { queue: deps.queue } : {}),
    };
  }

  /** Reads the token, loads the dashboard files, and listens; resolves to the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const token = await this.#readToken();
    this.#tokenHash = sha256(token);
    this.#assets = await loadDashboardAssets(this.#deps.log);
    const { host, port } = parseListen(this.#options.listen);
    const server = createServer((req, res) => void this.#handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(listenError(err, host, port, '[admin] listen')));
      server.listen({ host, port }, resolve);
    });
    this.#server = server;
    const bound = server.address() as AddressInfo;
    if (!isLoopback(bound.address)) {
      this.#deps.log.warn({ listen: this.#options.listen }, 'admin API listens beyond loopback; keep the token secret and the port firewalled');
    }
    this.#deps.log.info({ event: 'admin_listening', host: bound.address, port: bound.port }, 'admin API listening');
    return { host: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server === null) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #readToken(): Promise<string> {
    let token = this.#options.token;
    if (token === undefined && this.#options.token_file !== undefined) {
      try {
        token = (await readFile(this.#options.token_file, 'utf8')).trim();
      } catch (err) {
        throw new SluiceError('CONFIG_UNREADABLE', `admin.token_file: cannot read ${this.#options.token_file}`, { cause: err });
      }
    }
    if (token === undefined || token.length === 0) {
      throw new SluiceError('CONFIG_INVALID', 'admin: token or token_file is required (the API is never open)');
    }
    return token;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname;
    const remote = req.socket.remoteAddress ?? 'unknown';
    const presented = bearer(req);
    const who = { remote, token: presented === null ? null : fingerprint(presented) };
    let status = 500;
    let mutates = false;
    try {
      if (path === '/healthz' && method === 'GET') {
        status = send(res, 200, { ok: true, node: this.#deps.node });
        return;
      }
      if (path === '/readyz' && method === 'GET') {
        status = await this.#readyz(res);
        return;
      }
      const asset = method === 'GET' ? this.#assets.get(path) : undefined;
      if (asset !== undefined) {
        status = sendAsset(req, res, asset);
        return;
      }
      const guess = presented === null ? null : await this.#deps.tokenGuesses.begin({ ip: remote });
      if (guess !== null && !guess.ok) {
        res.setHeader('retry-after', String(Math.ceil(guess.retryAfterMs / 1000)));
        status = send(res, 429, problem('TOO_MANY_ATTEMPTS', 'too many wrong tokens from this address; try again later'));
        this.#deps.log.warn({ ...who, method, path }, 'admin request refused unchecked: too many wrong tokens from this address');
        return;
      }
      const authorized = this.#authorized(presented);
      await guess?.settle(authorized);
      if (!authorized) {
        res.setHeader('www-authenticate', 'Bearer realm="sluice-admin"');
        status = send(res, 401, problem('UNAUTHORIZED', 'a valid "Authorization: Bearer <token>" header is required'));
        this.#deps.log.warn({ ...who, method, path }, 'admin request refused: bad or missing token');
        return;
      }
      const matches = ROUTES.map((r) => ({ r, m: r.regex.exec(path) })).filter((x) => x.m !== null);
      const hit = matches.find((x) => x.r.method === method);
      if (hit === undefined || hit.m === null) {
        if (matches.length > 0) res.setHeader('allow', [...new Set(matches.map((x) => x.r.method))].join(', '));
        status = matches.length > 0 ? send(res, 405, problem('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`))
          : send(res, 404, problem('NOT_FOUND', `no route ${path}`));
        return;
      }
      mutates = hit.r.mutates;
      const params: Record<string, string> = {};
      hit.r.params.forEach((p, i) => (params[p] = decodeParam(hit.m?.[i + 1] ?? '')));
      const body = method === 'GET' ? undefined : await readJson(req, this.#options.max_body ?? 64 * 1024);
      const by = `admin-api ${remote} token:${who.token ?? '-'}`;
      const reply = await hit.r.handle({ params, query: url.searchParams, body, by }, this.#routeDeps);
      status = sendReply(res, reply);
    } catch (err) {
      status = this.#fail(res, err, { ...who, method, path });
    } finally {
      const line = { ...who, method, path, status, ms: Math.round(performance.now() - started) };
      if (mutates) this.#deps.log.info(line, 'admin action');
      else this.#deps.log.debug(line, 'admin request');
    }
  }

  async #readyz(res: ServerResponse): Promise<number> {
    let r: Readiness;
    try {
      r = await this.#deps.readiness();
    } catch (err) {
      this.#deps.log.warn({ err }, 'readiness check failed');
      r = { ready: false, reasons: ['readiness check failed'] };
    }
    return send(res, r.ready ? 200 : 503, { ready: r.ready, node: this.#deps.node, reasons: r.reasons });
  }

  #authorized(presented: string | null): boolean {
    if (presented === null || this.#tokenHash === null) return false;
    // Comparing fixed-length digests keeps the comparison constant-time whatever the length.
    return timingSafeEqual(sha256(presented), this.#tokenHash);
  }

  #fail(res: ServerResponse, err: unknown, who: object): number {
    if (res.headersSent) {
      res.destroy();
      return 500;
    }
    if (err instanceof BadRequest) return send(res, 400, problem('INVALID', err.message));
    if (err instanceof TooLarge) return send(res, 413, problem('TOO_LARGE', err.message));
    if (err instanceof AdminError) {
      const status = { NOT_FOUND: 404, INVALID: 400, CONFLICT: 409, UNAVAILABLE: 503 }[err.code];
      return send(res, status, problem(err.code, err.message));
    }
    // The state layer's own input check (suppression-key.ts): the request's fault, not ours.
    if (err instanceof SluiceError && err.code === 'USAGE') return send(res, 400, problem('INVALID', err.message));
    if (err instanceof SluiceError && err.code === 'STATE_UNAVAILABLE') {
      return send(res, 503, problem('UNAVAILABLE', 'shared state is unavailable; try again'));
    }
    this.#deps.log.error({ ...who, err }, 'admin request failed');
    return send(res, 500, problem('INTERNAL', 'internal error (see the node log)'));
  }
}

class TooLarge extends Error {
  override readonly name = 'TooLarge';
}

function problem(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function send(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return status;
}

function sendReply(res: ServerResponse, reply: Reply): number {
  const status = reply.status ?? 200;
  if ('json' in reply) return send(res, status, reply.json);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': reply.type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(reply.text),
  });
  res.end(reply.text);
  return status;
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): number {
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, { etag: asset.etag });
    res.end();
    return 304;
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': asset.type,
    'content-length': asset.body.length,
    etag: asset.etag,
    'cache-control': 'no-cache',
    // The page loads only its own files and talks only to this listener.
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(asset.body);
  return 200;
}

function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new TooLarge(`request body over ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        // Answer 413 without reading the rest into memory; the socket drains and is reused.
        reject(new TooLarge(`request body over ${max} bytes`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new BadRequest('body: not valid JSON'));
      }
    });
  });
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1] ?? null;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function fingerprint(token: string): string {
  return sha256(token).toString('hex').slice(0, 8);
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequest('bad percent-encoding in the path');
  }
}

/** "127.0.0.1:8925", "[::1]:8925", "localhost:8925" or "8925". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen.trim()) ?? /^()()(\d+)$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SluiceError('CONFIG_INVALID', `admin.listen: expected "host:port", got "${listen}"`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1';
}
