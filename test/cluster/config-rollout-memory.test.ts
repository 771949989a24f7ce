/**
 * A node in `[cluster] config = "redis"` mode keeps the version it applied last in its
 * data_dir: one that starts while Redis cannot be read runs that version, not its own
 * file's sources and pools.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigRollout, ConfigVersions, bundleFromFile } from '../../gateway/cluster/config-rollout.js';
import type { LoadedConfig } from '../../gateway/config/load.js';
import { tempDir } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';

const log = pino({ level: process.env['SLUICE_TEST_LOG'] ?? 'silent' });
let redis: PrivateRedis;

/** A rollout for the node whose own file is `localMain`; `pools` collects the pool names of each config applied. */
function rollout(url: string, localMain: string, memory: string): { rollout: ConfigRollout; apply: (loaded: LoadedConfig) => Promise<void>; pools: string[][] } {
  const pools: string[][] = [];
  const apply = async (loaded: LoadedConfig) => void pools.push(Object.keys(loaded.config.pools));
  return { rollout: new ConfigRollout({ versions: new ConfigVersions(url, 'mem:'), localMain, options: {}, apply, log, registry: new Registry(), pollMs: 60_000, memory }), apply, pools };
}

describe.skipIf(redisServerPath() === null)('config rollout: the version applied last, kept in data_dir', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a node that starts while Redis cannot be read runs the version it applied last', async () => {
    const pushDir = tempDir('sluice-push-');
    const pushed = join(pushDir, 'sluice.toml');
    writeFileSync(pushed, ['[sources.blue-src]', 'ip = "127.0.0.2"', 'ehlo = "blue.sluice.test"', '[pools.blue]', 'sources = ["blue-src"]'].join('\n'));
    const versions = new ConfigVersions(redis.url, 'mem:', 'once');
    await versions.open();
    expect(await versions.push(bundleFromFile(pushed, 'test', ''))).toBe(1);
    await versions.close();

    const nodeDir = tempDir('sluice-node-');
    const own = join(nodeDir, 'sluice.toml');
    writeFileSync(own, '[node]\nid = "m1"\n');
    const memory = join(nodeDir, 'data', 'config-version.json');
    const first = rollout(redis.url, own, memory);
    await first.rollout.prime(first.apply);
    expect(first.rollout.status()).toEqual({ version: 1, failed: null, latest: 1 });
    expect(existsSync(memory)).toBe(true);
    await first.rollout.stop();

    // Redis away (nothing listens there): the version from data_dir, not the own file's (no pools).
    const again = rollout(`redis://127.0.0.1:${await freePort()}`, own, memory);
    await again.rollout.prime(again.apply);
    expect(again.rollout.status()).toEqual({ version: 1, failed: null, latest: 1 });
    expect(again.pools).toEqual([['blue']]);
    await again.rollout.stop();
  });
});
