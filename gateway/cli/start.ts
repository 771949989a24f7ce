/** `sluice start --config FILE`: run a node until SIGTERM or SIGINT; SIGHUP re-reads the config. */
import { loadConfig } from '../config/load.js';
import { SluiceNode } from '../node.js';
import { parse, required } from './args.js';

const USAGE = `Usage: sluice start --config FILE

Runs a node. SIGTERM/SIGINT stop it gracefully: listeners answer 421 4.3.2, transactions
and deliveries in flight finish within [node] drain_timeout, queued mail stays spooled.
`;

export async function startCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' } }, USAGE);
  if (!args) return 0;
  const loaded = loadConfig(required(args.values.config, '--config', USAGE));
  const node = new SluiceNode({ loaded });
  process.on('unhandledRejection', (err) => node.log.error({ err }, 'unhandled rejection (kept running)'));
  process.on('uncaughtException', (err) => node.log.fatal({ err }, 'uncaught exception (kept running)'));
  try {
    await node.start();
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
  node.log.info({ event: 'started', queued: node.scheduler.depth }, 'sluice started');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      node.log.warn({ signal }, 'second signal: exiting now (queued mail stays in the spool)');
      process.exit(1);
    }
    stopping = true;
    node.log.info({ signal }, 'signal received');
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        node.log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}
