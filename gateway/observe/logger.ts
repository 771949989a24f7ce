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

/**
 * Lines go to stdout as they are logged, each with one write(2) (pino's default buffers
 * them and writes in the background). A buffered line waits for the write ahead of it, and
 * under load the wait outlived V8's young-generation collections: every line was promoted
 * to the old generation. Making all 100 000 queued messages due at once (a flush) logs
 * 100 000 `deferred` lines, 44 MB, and they were most of the old-space garbage that took
 * the node over 300 MB. Written at once, a line dies young. It is also what Node does for
 * console.log on Linux, and the buffer it replaces had no bound when stdout stalled.
 */
export function createLogger(nodeId: string, level = process.env['SLUICE_LOG_LEVEL'] ?? 'info'): NodeLog {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, pino.destination({ dest: 1, sync: true }));
}
