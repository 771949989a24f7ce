/**
 * The node's structured log: pino, one JSON line per event, with the node id on every line.
 * `Logger` is the one log type every layer writes to (and plugins get as PluginLogger);
 * it is a shared seam, so a module names it without depending on pino.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** The root log the composition root holds: a Logger that also makes per-plugin children. */
export type NodeLog = PinoLogger;

export function createLogger(nodeId: string, level = process.env['SLUICE_LOG_LEVEL'] ?? 'info'): NodeLog {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } });
}
