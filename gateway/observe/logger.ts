/** The node's structured log: pino, one JSON line per event, with the node id on every line. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(nodeId: string, level = process.env['SLUICE_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } });
}
