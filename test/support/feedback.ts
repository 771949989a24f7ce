/**
 * Feedback-loop test support: realistic ARF reports (RFC 5965) built from the templates in
 * test/bounce/fixtures around a message the test MX really received, and a reader for the
 * node's event log ([events] file).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../dist/gateway/config/load.js';
import { SluiceNode } from '../../dist/gateway/node.js';
import { ROOT, tempDir } from './gateway.js';

export interface BuiltGateway {
  readonly node: SluiceNode;
  readonly dir: string;
  /** The event log file ([events] file = "${DIR}/events.jsonl"). */
  readonly events: string;
  port(n?: number): number;
  stop(): Promise<void>;
}

/**
 * Starts a node from dist/ (built-in plugins such as suppression load from dist/plugins,
 * so run the build first), `${DIR}` in `toml` replaced by a fresh temp dir. `logLines`:
 * every log line the node writes (info and up), parsed, is pushed there.
 */
export async function startBuiltGateway(toml: string, logLines?: EventLine[]): Promise<BuiltGateway> {
  const dir = tempDir('sluice-fbl-');
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, toml.replaceAll('${DIR}', dir));
  const logger = logLines
    ? pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as EventLine) })
    : pino({ level: process.env['SLUICE_TEST_LOG'] ?? 'silent' });
  const node = new SluiceNode({ loaded: loadConfig(file), logger });
  await node.start();
  return { node, dir, events: join(dir, 'events.jsonl'), port: (n = 0) => node.ports[n] as number, stop: () => node.stop() };
}

export type ArfTemplate = 'yahoo-cfl' | 'microsoft-jmrp';

export interface ArfVars {
  readonly sourceIp: string;
  readonly mailFrom: string;
  /** Microsoft's Original-Rcpt-To (Yahoo sends none). */
  readonly rcpt?: string;
  /** The reported message as delivered (CRLF); Yahoo gets it whole, Microsoft its header only. */
  readonly original: Buffer | string;
  /** Applied to the original first: what a provider redacts or strips. */
  readonly redact?: (original: string) => string;
  readonly reportId?: string;
}

export function arfReport(template: ArfTemplate, v: ArfVars): string {
  const text = readFileSync(join(ROOT, 'test/bounce/fixtures', `${template}.eml.tmpl`), 'utf8').replace(/\r?\n/g, '\r\n');
  let original = typeof v.original === 'string' ? v.original : v.original.toString('latin1');
  if (v.redact) original = v.redact(original);
  const end = original.indexOf('\r\n\r\n');
  const headers = end < 0 ? original : original.slice(0, end + 2);
  const vars: Record<string, string> = {
    DATE: 'Thu, 26 Nov 2026 10:15:02 +0000',
    SOURCE_IP: v.sourceIp,
    MAIL_FROM: v.mailFrom,
    RCPT: v.rcpt ?? '',
    REPORT_ID: v.reportId ?? `r${Math.random().toString(36).slice(2)}`,
    ORIGINAL: original,
    ORIGINAL_HEADERS: headers,
  };
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (_m, k: string) => vars[k] ?? '');
}

export type EventLine = Record<string, unknown> & { event: string };

export function readEvents(file: string): EventLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EventLine);
}

/** Resolves with the first event-log line matching, once the node wrote it. */
export async function waitForEventLine(file: string, match: (e: EventLine) => boolean, timeoutMs = 10_000): Promise<EventLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = readEvents(file).find(match);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no matching event in ${file} within ${timeoutMs} ms; last lines:\n${readEvents(file).slice(-5).map((e) => JSON.stringify(e)).join('\n')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The sum of a metric's series whose labels include `labels`, from Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, val]) => line.includes(`${k}="${val}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}
