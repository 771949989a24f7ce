/** Shared bits of the queue unit tests: a config from a TOML-shaped object, items, a log. */
import { configSchema, type Config } from '../../gateway/config/schema.js';
import type { Logger } from '../../gateway/observe/logger.js';
import type { Envelope } from '../../gateway/spool/types.js';
import type { QueueItem } from '../../gateway/queue/types.js';

export function config(doc: Record<string, unknown> = {}): Config {
  return configSchema.parse(doc);
}

export interface LogLine {
  readonly level: string;
  readonly obj: object | string;
  readonly msg: string | undefined;
}

/** A Logger that keeps its lines, so a test can read what was logged. */
export function recordingLog(): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function envelope(id: string, receivedAt: number, rcpts: readonly string[] = [`${id}@example.net`]): Envelope {
  return {
    id,
    mailFrom: 'app@example.com',
    rcpts,
    receivedAt,
    class: 'transactional',
    pool: null,
    priority: null,
    campaign: null,
    messageId: null,
    authUser: null,
    clientAddress: '127.0.0.1',
    routeHeaders: {},
    isDsn: false,
  };
}

export function item(id: string, readyAt: number): QueueItem {
  return { envelope: envelope(id, readyAt), domain: 'example.net', rcpts: [`${id}@example.net`], attempts: 0, nextAt: readyAt, readyAt };
}

/** Lets queued setImmediate callbacks (the dispatcher's pump) and settled promises run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
