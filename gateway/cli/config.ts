/**
 * `sluice config push|history|rollback`: versioned config rollout through Redis
 * (cluster/config-rollout.ts). Nodes with `[cluster] config = "redis"` apply each new
 * version through the reload path.
 */
import { hostname, userInfo } from 'node:os';
import { ConfigVersions, bundleFromFile } from '../cluster/config-rollout.js';
import { SluiceError } from '../errors.js';
import { configFile, loadForCli, parse } from './args.js';

const USAGE = `Usage: sluice config push --config FILE [--note TEXT] [--redis URL] [--prefix P]
       sluice config history [--config FILE] [--redis URL] [--prefix P]
       sluice config rollback N [--config FILE] [--note TEXT] [--redis URL] [--prefix P]

push       validates FILE with its includes (as check-config does) and publishes its files
           to Redis as a new version; nodes with [cluster] config = "redis" apply it
history    lists the versions: number, time, who, note, files
rollback N publishes version N's files again as a new version (history keeps both)

Redis is --redis URL, else FILE's [cluster] redis_url. The key prefix is --prefix P,
else FILE's [cluster] key_prefix, else "sluice:": it must be the nodes' key_prefix.
`;

export async function configCommand(argv: string[]): Promise<number> {
  const args = parse(argv, { config: { type: 'string', short: 'c' }, note: { type: 'string' }, redis: { type: 'string' }, prefix: { type: 'string' } }, USAGE);
  if (!args) return 0;
  const [action, arg] = args.positionals;
  const url = args.values['redis'] as string | undefined;
  // push always needs FILE; history and rollback only to find Redis when --redis is not given.
  const file = action === 'push' || url === undefined ? configFile(args.values.config, USAGE) : null;
  const note = (args.values['note'] as string | undefined) ?? '';
  const by = `${userInfo().username}@${hostname()}`;
  const versions = openVersions(file, url, args.values['prefix'] as string | undefined);
  try {
    await versions.open();
    switch (action) {
      case 'push': {
        const bundle = bundleFromFile(file ?? '', by, note);
        const v = await versions.push(bundle);
        process.stdout.write(`published config version ${v} (${bundle.files.map((f) => f.name).join(', ')})\n`);
        return 0;
      }
      case 'history': {
        const all = await versions.history();
        if (all.length === 0) process.stdout.write('no config versions published\n');
        for (const b of all) process.stdout.write(`${b.version}\t${new Date(b.at).toISOString()}\t${b.by}\t${b.files.map((f) => f.name).join(',')}\t${b.note}\n`);
        return 0;
      }
      case 'rollback': {
        const n = Number(arg);
        if (!Number.isInteger(n) || n < 1) throw new SluiceError('USAGE', `rollback needs a version number, e.g. "sluice config rollback 3"\n\n${USAGE}`);
        const old = await versions.get(n);
        if (old === null) throw new SluiceError('CONFIG_INVALID', `no config version ${n} in Redis (sluice config history lists them)`);
        const v = await versions.push({ by, note: note || `rollback to version ${n}`, main: old.main, ...(old.from === undefined ? {} : { from: old.from }), files: old.files });
        process.stdout.write(`published config version ${v}: the files of version ${n}\n`);
        return 0;
      }
      default:
        throw new SluiceError('USAGE', `unknown action "${action ?? ''}"\n\n${USAGE}`);
    }
  } finally {
    await versions.close();
  }
}

function openVersions(file: string | null, url: string | undefined, prefix: string | undefined): ConfigVersions {
  // The pushed file need not name Redis (a fleet file often has no [cluster]): read it only when it does.
  const cluster = file === null ? undefined : clusterOf(file);
  const redisUrl = url ?? cluster?.redis_url;
  if (redisUrl === undefined) throw new SluiceError('USAGE', `${file ?? 'the config'} has no [cluster] redis_url: give --redis URL`);
  return new ConfigVersions(redisUrl, prefix ?? cluster?.key_prefix ?? 'sluice:', 'once');
}

function clusterOf(file: string): { redis_url: string; key_prefix: string } | undefined {
  return loadForCli(file).config.cluster;
}
