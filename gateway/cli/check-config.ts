/**
 * `sluice check-config --config FILE`: every problem as file:line key: problem, exit 1 if
 * any. OK means the node will start: the schema, the cross references, every file the
 * config names (TLS, token and secret files, DKIM keys, user plugins) and each plugin's
 * table and own checks, all in one pass, also on the parts that parsed when others did not.
 */
import { ConfigError, pluginTableName, withLine, type LoadedConfig } from '../config/load.js';
import { formatIssue, type ConfigIssue } from '../config/issues.js';
import { checkPlugin, importPlugin, pluginOrder } from '../plugin-host/host.js';
import { configFile as cfgFile, loadForCli, parse } from './args.js';

const USAGE = `Usage: sluice check-config --config FILE

Validates the config and its includes, every file it names (TLS cert and key, DKIM keys,
token and secret files, plugin modules), the plugins it names and their tables.
Prints every problem as  file:line key: problem (did you mean …?)  and exits 1, or prints
OK when the node would start with this config.
`;

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' } }, USAGE);
  if (!args) return 0;
  const file = cfgFile(args.values.config, USAGE);
  const issues: ConfigIssue[] = [];
  let loaded: Omit<LoadedConfig, 'config'> & { config: LoadedConfig['config'] } | undefined;
  try {
    loaded = loadForCli(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
    loaded = err.partial;
  }
  if (loaded) issues.push(...(await pluginIssues(loaded, file)));
  if (issues.length > 0) {
    process.stderr.write(`${issues.map(formatIssue).join('\n')}\n${issues.length} problem${issues.length === 1 ? '' : 's'} found\n`);
    return 1;
  }
  process.stdout.write(`OK: ${loaded?.files.map((f) => f.path).join(', ') ?? file}\n`);
  return 0;
}

/** The plugins a start would load (the default built-ins too), as PluginHost.load checks them. */
async function pluginIssues(loaded: Omit<LoadedConfig, 'config'> & { config: LoadedConfig['config'] }, file: string): Promise<ConfigIssue[]> {
  const out: ConfigIssue[] = [];
  const { config } = loaded;
  const tables: Record<string, unknown> = { dkim: config.dkim, classify: config.classify, suppression: config.suppression, ...loaded.pluginTables };
  for (const entry of pluginOrder(config)) {
    try {
      const plugin = await importPlugin(entry, loaded.baseDir);
      const table = tables[plugin.name] !== undefined ? plugin.name : pluginTableName(entry);
      for (const i of await checkPlugin(plugin, tables[table], loaded.origin[table] ?? file, loaded.baseDir)) out.push(withLine(i, loaded.files));
    } catch (err) {
      out.push({ file: loaded.origin['plugins'] ?? file, line: null, key: 'plugins.order', message: (err as Error).message });
    }
  }
  return out;
}
