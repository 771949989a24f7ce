/** Shared option parsing for the subcommands (node:util parseArgs, strict). */
import { parseArgs } from 'node:util';
import { SluiceError } from '../errors.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly default?: string | boolean;
  readonly multiple?: boolean;
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: string[];
}

/** Parses argv; prints `usage` and returns null for --help; throws a USAGE error on bad options. */
export function parse(argv: string[], options: Record<string, OptionSpec>, usage: string): ParsedArgs | null {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } } as never, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SluiceError('USAGE', `${(err as Error).message}\n\n${usage}`);
  }
  if (parsed.values['help']) {
    process.stdout.write(usage);
    return null;
  }
  return parsed;
}

export function required(value: unknown, flag: string, usage: string): string {
  if (typeof value !== 'string' || value === '') throw new SluiceError('USAGE', `missing ${flag}\n\n${usage}`);
  return value;
}

/** `--config FILE`, else $SLUICE_CONFIG (the container image sets it), else a usage error. */
export function configFile(value: unknown, usage: string): string {
  return required(value ?? process.env['SLUICE_CONFIG'], '--config (or SLUICE_CONFIG)', usage);
}

/** Loads the config as a node would: $SLUICE_DATA_DIR, when set, is the data root (config/load.ts LoadOptions). */
export function loadForCli(file: string, dataDir = process.env['SLUICE_DATA_DIR']): LoadedConfig {
  return loadConfig(file, dataDir ? { dataDir } : {});
}
