/**
 * Loads the TOML config (with includes), validates it against the schema and the
 * cross-references between sections, and returns a frozen Config or every problem found.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { configPath } from './paths.js';
import { parse, TomlError } from 'smol-toml';
import { configSchema, PLUGIN_TABLES, type Config } from './schema.js';
import { closest } from './suggest.js';
import { formatIssue, keyPath, type ConfigIssue } from './issues.js';
import { knownKeysAt } from './known-keys.js';
import { crossCheck } from './cross-check.js';
import { locateKey } from './locate.js';
import { parsePartial, type InvalidNames } from './partial.js';
import { typeHint } from './type-hint.js';
import { SluiceError } from '../errors.js';

export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Tables of user plugins named in [plugins] order, by table name. */
  readonly pluginTables: Readonly<Record<string, unknown>>;
  readonly files: readonly SourceFile[];
  /** The directory relative paths in the config resolve against (the main file's). */
  readonly baseDir: string;
  /** Which file each top-level key came from. */
  readonly origin: Readonly<Record<string, string>>;
  /** How it was loaded: a reload loads the same way. */
  readonly options?: LoadOptions;
}

export class ConfigError extends SluiceError {
  readonly issues: readonly ConfigIssue[];
  /** What parsed despite the issues (absent when a file could not be read or parsed as TOML), for check-config's further checks. */
  readonly partial: Omit<LoadedConfig, 'config'> & { readonly config: Config } | undefined;
  constructor(issues: readonly ConfigIssue[], partial?: Omit<LoadedConfig, 'config'> & { readonly config: Config }) {
    super('CONFIG_INVALID', issues.map(formatIssue).join('\n'));
    this.issues = issues;
    this.partial = partial;
  }
}

export interface LoadOptions {
  /**
   * The data root (SLUICE_DATA_DIR, `start --data-dir`): replaces `[node] data_dir`, and a
   * relative `[events] file` lands under it too, so that everything the node writes stays in
   * one place (a container's volume) whatever the config's relative paths say.
   */
  readonly dataDir?: string | undefined;
  /** Reads a config file; default: from disk. A config version from Redis is read from memory. */
  readonly read?: (path: string) => string;
}

const MERGEABLE_ARRAYS = new Set(['listen', 'users', 'routes', 'alerts', 'include']);

export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  const mainPath = resolve(file);
  const read = options.read ?? ((path: string) => readFileSync(path, 'utf8'));
  const files: SourceFile[] = [];
  const issues: ConfigIssue[] = [];
  const origin: Record<string, string> = {};
  const merged: Record<string, unknown> = {};

  const readToml = (path: string): Record<string, unknown> | null => {
    let text: string;
    try {
      text = read(path);
    } catch (err) {
      issues.push({ file: path, line: null, key: '', message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      return null;
    }
    files.push({ path, text });
    try {
      return parse(text);
    } catch (err) {
      const line = err instanceof TomlError ? err.line : null;
      const first = String((err as Error).message).split('\n')[0] ?? 'invalid TOML';
      issues.push({ file: path, line, key: '', message: `TOML syntax: ${first}` });
      return null;
    }
  };

  const mergeInto = (data: Record<string, unknown>, path: string) => {
    for (const [key, value] of Object.entries(data)) {
      const prior = merged[key];
      if (prior === undefined) {
        merged[key] = value;
        origin[key] = path;
      } else if (MERGEABLE_ARRAYS.has(key) && Array.isArray(prior) && Array.isArray(value)) {
        merged[key] = [...(prior as unknown[]), ...(value as unknown[])];
      } else if (isTable(prior) && isTable(value) && ['sources', 'pools', 'providers', 'warmup'].includes(key)) {
        for (const [name, v] of Object.entries(value)) {
          if (name in prior) issues.push({ file: path, line: null, key: `${key}.${name}`, message: `already defined in ${origin[key]}` });
          else prior[name] = v;
        }
      } else {
        issues.push({ file: path, line: null, key, message: `already set in ${origin[key]}; set it in one file only` });
      }
    }
  };

  const main = readToml(mainPath);
  if (main) {
    mergeInto(main, mainPath);
    const includes = Array.isArray(main['include']) ? main['include'] : [];
    for (const inc of includes) {
      if (typeof inc !== 'string') continue;
      const incPath = configPath(dirname(mainPath), inc);
      const data = readToml(incPath);
      if (data) {
        if ('include' in data) issues.push({ file: incPath, line: null, key: 'include', message: 'included files may not include others' });
        delete data['include'];
        mergeInto(data, incPath);
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues.map((i) => withLine(i, files)));

  const pluginTables = takeUserPluginTables(merged);
  const baseDir = dirname(mainPath);
  const crossIssues = (config: Config, invalid?: InvalidNames) => crossCheck(config, baseDir, invalid).map((issue) => ({ ...issue, file: origin[issue.key.split(/[.[]/)[0] ?? ''] ?? mainPath }));
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...explain(issue, merged, origin, mainPath));
    // Every problem in one pass: the cross checks still run on the sections that parsed.
    const partial = parsePartial(merged);
    for (const issue of crossIssues(partial.config, partial.invalidNames)) {
      if (!partial.invalidSections.has(issue.key.split(/[.[]/)[0] ?? '')) issues.push(issue);
    }
    throw new ConfigError(issues.map((i) => withLine(i, files)), { config: partial.config, pluginTables, files, baseDir, origin });
  }
  const config = options.dataDir ? withDataDir(result.data, options.dataDir) : result.data;
  issues.push(...crossIssues(config));
  if (issues.length > 0) throw new ConfigError(issues.map((i) => withLine(i, files)), { config, pluginTables, files, baseDir, origin });
  return deepFreeze({ config, pluginTables, files, baseDir, origin, options });
}

/** `[node] data_dir` replaced by the data root, and a relative `[events] file` put under it. */
function withDataDir(config: Config, dataDir: string): Config {
  const root = resolve(dataDir);
  const file = config.events.file;
  const events = file !== undefined && !isAbsolute(file) ? { ...config.events, file: join(root, file) } : config.events;
  return { ...config, node: { ...config.node, data_dir: root }, events };
}

/** Lifts `[name]` tables of user plugins out of the document before the strict schema sees it. */
function takeUserPluginTables(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const plugins = doc['plugins'];
  const order = isTable(plugins) && Array.isArray(plugins['order']) ? plugins['order'] : [];
  for (const entry of order) {
    if (typeof entry !== 'string') continue;
    const name = pluginTableName(entry);
    if ((PLUGIN_TABLES as readonly string[]).includes(name)) continue;
    if (name in doc && !(name in configSchema.shape)) {
      out[name] = doc[name];
      delete doc[name];
    }
  }
  return out;
}

/** `plugins/rate-guard/index.js` and `./rate-guard.mjs` both own the table `[rate-guard]`. */
export function pluginTableName(entry: string): string {
  const parts = entry.replace(/\\/g, '/').split('/').filter(Boolean);
  let last = parts[parts.length - 1] ?? entry;
  if (/^index\.[cm]?[jt]s$/.test(last) && parts.length > 1) last = parts[parts.length - 2] ?? last;
  return last.replace(/\.[cm]?[jt]s$/, '');
}

interface ZodIssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly expected?: string;
}

function explain(issue: ZodIssueLike, doc: Record<string, unknown>, origin: Record<string, string>, mainPath: string): ConfigIssue[] {
  const top = String(issue.path[0] ?? (issue.keys?.[0] ?? ''));
  const file = origin[top] ?? mainPath;
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    const known = knownKeysAt(configSchema, issue.path);
    return issue.keys.map((k) => {
      const guess = closest(k, known);
      const hint = guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '';
      return { file: origin[issue.path.length === 0 ? k : top] ?? file, line: null, key: keyPath([...issue.path, k]), message: `unknown key${hint}` };
    });
  }
  let message = issue.message;
  if (issue.code === 'invalid_type') {
    const value = valueAt(doc, issue.path);
    message = value === undefined ? 'required key is missing' : typeHint(issue.expected ?? '', value, issue.path);
  }
  return [{ file, line: null, key: keyPath(issue.path), message }];
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = doc;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[String(p)];
  }
  return v;
}

/** Adds the line number of the issue's key in its file, when it can be found. */
export function withLine(issue: ConfigIssue, files: readonly SourceFile[]): ConfigIssue {
  if (issue.line !== null || issue.key === '') return issue;
  const src = files.find((f) => f.path === issue.file);
  if (!src) return issue;
  const path = issue.key.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return { ...issue, line: locateKey(src.text, path) };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !Buffer.isBuffer(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
