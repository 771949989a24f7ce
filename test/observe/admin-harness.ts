/**
 * Starts the admin server on 127.0.0.1 (port 0) with a fake AdminControl and a real
 * Observer (metrics, stats, alerts), and offers small HTTP helpers and a parser for
 * the Prometheus text format.
 */
import { Registry } from 'prom-client';
import { AdminServer, type AdminOptions, type Readiness } from '../../gateway/observe/admin-server.js';
import { Observer, type ObserverOptions } from '../../gateway/observe/observer.js';
import type { PluginLogger } from '../../gateway/plugin-host/public.js';
import type { OutcomeEvent } from '../../gateway/plugin-host/public.js';
import { FakeAdminControl } from './fake-admin-control.js';
import { EmbeddedFailures } from '../../gateway/state/embedded/failure-store.js';
import { GuessLimiter } from '../../gateway/state/guess-limiter.js';
import { systemClock } from '../../gateway/state/types.js';

export const TOKEN = 'test-token-0123456789';

export interface LogLine {
  readonly level: string;
  readonly obj: unknown;
  readonly msg: string | undefined;
}

export function captureLog(): { log: PluginLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

export interface Harness {
  readonly url: string;
  readonly control: FakeAdminControl;
  readonly observer: Observer;
  readonly registry: Registry;
  readonly logs: LogLine[];
  request(method: string, path: string, options?: { body?: unknown; raw?: string; token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    /** `[admin]` without listen; default `{ token: TOKEN }`. */
    admin?: Omit<AdminOptions, 'listen'>;
    readiness?: () => Readiness | Promise<Readiness>;
    observer?: Partial<ObserverOptions>;
    /** Wrong tokens per client IP before 429 (default 10, as [admin] token_failure_limit). */
    tokenFailureLimit?: number;
  } = {},
): Promise<Harness> {
  const { log, lines } = captureLog();
  const registry = new Registry();
  const control = new FakeAdminControl();
  const observer = new Observer({ node: 'gw-1', registry, log, ...options.observer });
  const admin: AdminOptions = { listen: '127.0.0.1:0', ...(options.admin ?? { token: TOKEN }) };
  const server = new AdminServer(admin, {
    node: 'gw-1',
    control,
    registry,
    readiness: options.readiness ?? (() => ({ ready: true, reasons: [] })),
    stats: observer.stats,
    statsSpanMs: observer.stats.spanMs,
    alerts: observer.alerts,
    log,
    tokenGuesses: new GuessLimiter(
      new EmbeddedFailures(systemClock),
      'admin',
      () => ({ ip: { limit: options.tokenFailureLimit ?? 10, windowMs: 600_000, lockoutMs: 900_000 } }),
      { failed: () => observer.metrics.authFailure('admin'), refused: () => observer.metrics.authRefused('admin') },
    ),
  });
  const { port } = await server.start();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    control,
    observer,
    registry,
    logs: lines,
    async request(method, path, o = {}) {
      const token = o.token === undefined ? TOKEN : o.token;
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      return fetch(url + path, body === undefined ? { method, headers } : { method, headers, body });
    },
    async close() {
      await server.close();
      await observer.close(0);
    },
  };
}

export function outcomeEvent(over: Partial<OutcomeEvent> = {}): OutcomeEvent {
  return {
    queueId: 'Q1',
    messageId: '<m1@example.test>',
    recipient: 'user@gmail.test',
    mailFrom: 'app@example.test',
    class: 'transactional',
    pool: 'transactional',
    source: 'a',
    provider: 'gmail',
    mx: 'mx1.gmail.test',
    reply: '250 2.0.0 OK',
    enhanced: '2.0.0',
    attempt: 1,
    at: Date.UTC(2026, 10, 1, 12, 0, 0),
    ...over,
  };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format (enough for prom-client's output). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] === undefined || m[3] === undefined) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (l[1] !== undefined && l[2] !== undefined) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sums the samples named `name` whose labels include `match`. */
export function sum(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
