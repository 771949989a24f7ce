/**
 * `sluice suppress add|remove|check|list|import|export --config FILE`: the suppression
 * list through the same state backend the node uses, so it works before the first start
 * and while nodes run. With `[cluster]` that is the shared Redis store; on embedded state
 * the CLI is a client of the node's list: it reads the node's log and leaves its changes
 * in the inbox, which the node applies within a second (or at its next start).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configPath } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { createState } from '../state/create.js';
import { EmbeddedSuppression } from '../state/embedded/suppression-store.js';
import { systemClock, type SuppressionEntry, type SuppressionReason, type SuppressionStore } from '../state/types.js';
import { SluiceError } from '../errors.js';
import { configFile as cfgFile, loadForCli, parse, required } from './args.js';
import { csvRow, parseCsvRow } from './csv.js';

const USAGE = `Usage: sluice suppress <action> --config FILE [options]

  add ADDRESS...  [--reason unsubscribe|hard-bounce|complaint|manual]   (an address, or @domain for a whole domain)
  remove ADDRESS...
  check ADDRESS...          prints the entry that suppresses each address; exit 1 if any is not suppressed
  list                      one line per entry: address, reason, source, time (tab-separated)
  import FILE [--reason R]  one address per line, or address,reason[,source] CSV; # comments ignored
  export [FILE]             the list as CSV (address,reason,source,time) to FILE or stdout
`;

const REASONS: readonly SuppressionReason[] = ['unsubscribe', 'hard-bounce', 'complaint', 'manual'];

export async function suppressCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' }, reason: { type: 'string', default: 'manual' } }, USAGE);
  if (!args) return 0;
  const [action, ...rest] = args.positionals;
  const reason = args.values.reason as SuppressionReason;
  if (!REASONS.includes(reason)) throw new SluiceError('USAGE', `--reason must be one of ${REASONS.join(', ')}`);
  const loaded = loadForCli(cfgFile(args.values.config, USAGE));
  const c = loaded.config;
  const dataDir = configPath(loaded.baseDir, c.node.data_dir);
  const state = await openSuppression(c, join(dataDir, 'state'));
  try {
    const now = Date.now();
    const entry = (address: string, r: SuppressionReason = reason, source = 'cli'): SuppressionEntry => ({ address: normalise(address), reason: r, source, at: now });
    switch (action) {
      case 'add': {
        if (rest.length === 0) throw new SluiceError('USAGE', `suppress add needs at least one address\n\n${USAGE}`);
        const added = await state.suppression.add(rest.map((a) => entry(a)));
        process.stdout.write(`added ${added} (${rest.length - added} already listed)\n`);
        return 0;
      }
      case 'remove': {
        const removed = await state.suppression.remove(rest.map((a) => normalise(a)));
        process.stdout.write(`removed ${removed}\n`);
        return 0;
      }
      case 'check': {
        let missing = 0;
        for (const a of rest) {
          const e = await state.suppression.check(normalise(a));
          if (e) process.stdout.write(`${a}\tsuppressed\t${e.address}\t${e.reason}\t${e.source}\t${new Date(e.at).toISOString()}\n`);
          else {
            missing++;
            process.stdout.write(`${a}\tnot suppressed\n`);
          }
        }
        return missing > 0 ? 1 : 0;
      }
      case 'list':
        for await (const e of state.suppression.list()) process.stdout.write(`${e.address}\t${e.reason}\t${e.source}\t${new Date(e.at).toISOString()}\n`);
        return 0;
      case 'import': {
        const file = required(rest[0], 'FILE', USAGE);
        const entries = parseImport(await readFile(file, 'utf8'), reason, `import ${file}`, now);
        let added = 0;
        for (let i = 0; i < entries.length; i += 10_000) added += await state.suppression.add(entries.slice(i, i + 10_000));
        process.stdout.write(`imported ${entries.length} (${added} new)\n`);
        return 0;
      }
      case 'export': {
        const lines: string[] = ['address,reason,source,time'];
        for await (const e of state.suppression.list()) lines.push(csvRow([e.address, e.reason, e.source, new Date(e.at).toISOString()]));
        const text = `${lines.join('\n')}\n`;
        if (rest[0]) await writeFile(rest[0], text);
        else process.stdout.write(text);
        return 0;
      }
      default:
        throw new SluiceError('USAGE', `unknown suppress action "${action ?? ''}"\n\n${USAGE}`);
    }
  } finally {
    await state.close();
  }
}

interface OpenSuppression {
  readonly suppression: SuppressionStore;
  close(): Promise<void>;
}

/**
 * The node's suppression list. Embedded: a client of the node's store, never a second
 * writer of its log (the node may be running). The state dir is `<data_dir>/state`,
 * as in gateway/node.ts.
 */
async function openSuppression(c: Config, stateDir: string): Promise<OpenSuppression> {
  if (c.cluster) {
    return createState({ dataDir: stateDir, clock: systemClock, redisUrl: c.cluster.redis_url, redisPrefix: c.cluster.key_prefix, commandTimeoutMs: Math.max(c.cluster.command_timeout, 2_000) });
  }
  const suppression = new EmbeddedSuppression(stateDir, { mode: 'client', writerId: String(process.pid) });
  await suppression.open();
  return { suppression, close: () => suppression.close() };
}

/** Lower-cased; refused unless it has an @ and no space or control character (NUL, tab, line break). */
function normalise(address: string, where = ''): string {
  const a = address.trim().toLowerCase();
  if (!/^[^\s@<>\u0000-\u001f\u007f]*@[^\s@<>\u0000-\u001f\u007f]+$/.test(a)) {
    throw new SluiceError('USAGE', `${where}${JSON.stringify(address)} is not an address (user@example.com) or a domain (@example.com)`);
  }
  return a;
}

function parseImport(text: string, reason: SuppressionReason, source: string, at: number): SuppressionEntry[] {
  const out: SuppressionEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#') || /^address\s*,/i.test(t)) return;
    const [addr, r, src] = parseCsvRow(t);
    const rr = (r && (REASONS as readonly string[]).includes(r) ? r : reason) as SuppressionReason;
    out.push({ address: normalise(addr ?? '', `line ${i + 1}: `), reason: rr, source: src || source, at });
  });
  return out;
}

