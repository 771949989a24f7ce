#!/usr/bin/env node
/**
 * The `sluice` command. Each subcommand lives in its own file; this one only dispatches
 * and turns errors into messages and exit codes.
 */
// Spool writes and fsyncs run on libuv's pool: give it room before the first fs call.
process.env['UV_THREADPOOL_SIZE'] ??= '16';

import { SluiceError } from '../errors.js';
import { ConfigError } from '../config/load.js';
import { formatIssue } from '../config/issues.js';

const USAGE = `sluice — clustered SMTP relay

Usage: sluice <command> [options]

Commands:
  start           --config FILE [--data-dir DIR]   run a node ($SLUICE_CONFIG, $SLUICE_DATA_DIR)
  health          [--config FILE] [--ready]   ask the running node whether it is alive (ready); exit 1 if not
  config          push|history|rollback N --config FILE   versioned config rollout through Redis
  check-config    --config FILE   validate a config; lists every problem, exit 1 if any
  hash-password                   read a password on stdin, print a hash for [[users]] password_hash
  suppress        add|remove|check|list|import|export --config FILE ...   manage the suppression list
  dkim keygen     --domain D --selector S [--config FILE] [--algorithm rsa|ed25519] [--bits N] [--dir DIR]
  drain           --config FILE [--handoff] [--cancel] [--wait DURATION]   stop taking mail, deliver (or hand to peers) what is queued
  queue           summary|list|show|rules|hold|lift|retry|bounce|cancel|rebind --config FILE ...   see and act on the fleet's queues
  mailbox         [--listen 127.0.0.1:2526] [--dir DIR]   a local test mailbox (config/local.toml delivers to it)
  bounce          classify [--json] [--rules FILE]... FILE...   what bounce messages say: reason, hard/soft, codes per recipient
  route           --explain --config FILE --from A --to B [--header "K: V"]...   how a message would be routed now


Run "sluice <command> --help" for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  start: async () => (await import('./start.js')).startCommand,
  config: async () => (await import('./config.js')).configCommand,
  health: async () => (await import('./health.js')).healthCommand,
  'check-config': async () => (await import('./check-config.js')).checkConfigCommand,
  'hash-password': async () => (await import('./hash-password.js')).hashPasswordCommand,
  suppress: async () => (await import('./suppress.js')).suppressCommand,
  dkim: async () => (await import('./dkim.js')).dkimCommand,
  route: async () => (await import('./route-explain.js')).routeCommand,
  drain: async () => (await import('./drain.js')).drainCommand,
  queue: async () => (await import('./queue.js')).queueCommand,
  mailbox: async () => (await import('./mailbox.js')).mailboxCommand,
  bounce: async () => (await import('./bounce.js')).bounceCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 1;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`sluice: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`config errors:\n${err.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
      process.exitCode = 1;
    } else if (err instanceof SluiceError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      process.exitCode = err.code === 'USAGE' ? 2 : 1;
    } else {
      process.stderr.write(`sluice: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
