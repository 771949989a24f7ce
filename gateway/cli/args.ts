/** Shared option parsing for the subcommands (node:util parseArgs, strict). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SluiceError } from '../errors.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SluiceError('USAGE', `${(err as Error).message}\n\n${usage}`);
  }
  if ((parsed.values as Record<string, unknown>)['help']) {
    process.stdout.write(usage);
    return null;
  }
  return parsed;
}

export function required(value: unknown, flag: string, usage: string): string {
  if (typeof value !== 'string' || value === '') throw new SluiceError('USAGE', `missing ${flag}\n\n${usage}`);
  return value;
}
