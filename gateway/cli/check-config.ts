/** `sluice check-config --config FILE`: every problem as file:line key: problem, exit 1 if any. */
import { loadConfig, ConfigError, pluginTableName, withLine } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { importPlugin, pluginConfigIssues } from '../plugin-host/host.js';
import { parse, required } from './args.js';

const USAGE = `Usage: sluice check-config --config FILE

Validates the config and its includes, the plugins it names and their tables.
Prints every problem as  file:line key: problem (did you mean …?)  and exits 1, or prints OK.
`;

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' } }, USAGE);
  if (!args) return 0;
  const file = required(args.values.config, '--config', USAGE);
  let loaded;
  try {
    loaded = loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.issues.map(formatIssue).join('\n')}\n`);
    process.stderr.write(`${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} found\n`);
    return 1;
  }
  const problems: string[] = [];
  const tables: Record<string, unknown> = { dkim: loaded.config.dkim, classify: loaded.config.classify, suppression: loaded.config.suppression, ...loaded.pluginTables };
  for (const entry of loaded.config.plugins.order) {
    try {
      const plugin = await importPlugin(entry, loaded.baseDir);
      const table = tables[plugin.name] !== undefined ? plugin.name : pluginTableName(entry);
      for (const i of pluginConfigIssues(plugin, tables[table], loaded.origin[table] ?? file)) problems.push(formatIssue(withLine(i, loaded.files)));
    } catch (err) {
      problems.push(`${loaded.origin['plugins'] ?? file} plugins.order: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n${problems.length} problem${problems.length === 1 ? '' : 's'} found\n`);
    return 1;
  }
  process.stdout.write(`OK: ${loaded.files.map((f) => f.path).join(', ')}\n`);
  return 0;
}
