/** `sluice start --config FILE`: run a node until SIGTERM or SIGINT; SIGHUP re-reads the config. */
import { watch } from 'node:fs';
import { ConfigError } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { SluiceNode } from '../node.js';
import { configFile, loadForCli, parse } from './args.js';

const USAGE = `Usage: sluice start --config FILE [--data-dir DIR]

  --config FILE    the config (default: $SLUICE_CONFIG)
  --data-dir DIR   the data root (default: $SLUICE_DATA_DIR): replaces [node] data_dir,
                   and a relative [events] file is written under it too, so that all the
                   node writes stays in DIR (a container's volume)

Runs a node. SIGTERM/SIGINT stop it gracefully: listeners answer 421 4.3.2, transactions
and deliveries in flight finish within [node] drain_timeout, queued mail stays spooled.
SIGHUP re-reads the config (also on file change with [node] watch_config = true): a valid
config applies without dropping sessions or queued mail; an invalid one is refused and logged.
With [cluster] config = "redis", SIGHUP tries the config versions newer than the one running
(refused ones too), else re-applies the one running.
`;

export async function startCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' } }, USAGE);
  if (!args) return 0;
  const loaded = loadForCli(configFile(args.values.config, USAGE), (args.values['data-dir'] as string | undefined) ?? process.env['SLUICE_DATA_DIR']);
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
  // SIGHUP (and file changes with [node] watch_config) re-read the config: a valid one
  // applies, an invalid one is refused with its errors and the running one stays.
  let reloading: Promise<void> | null = null;
  const reload = (by: string) => {
    if (stopping) return;
    reloading ??= node
      .reload(by)
      .then(
        () => undefined,
        (err: unknown) => {
          const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : [(err as Error).message];
          node.log.error({ event: 'config_reload_refused', by, errors: issues }, `config reload refused, the running config stays:\n${issues.join('\n')}`);
        },
      )
      .finally(() => {
        reloading = null;
      });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (node.config.node.watch_config) watchFiles(loaded.files.map((f) => f.path), () => reload('watch_config'));
  return -1;
}

/** Calls `onChange` once per burst of changes to any of `files` (editors write in several steps). */
function watchFiles(files: readonly string[], onChange: () => void): void {
  let timer: NodeJS.Timeout | null = null;
  for (const f of files) {
    watch(f, { persistent: false }, () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(onChange, 300);
    });
  }
}
