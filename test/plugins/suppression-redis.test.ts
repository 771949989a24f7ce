/**
 * With `[cluster]` the list is shared in Redis: a CLI add is seen by the running node at
 * once, and when Redis cannot answer, recipients are deferred (451 4.3.0), never accepted
 * unchecked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerPath, startRedis, type PrivateRedis } from '../support/redis-server.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, MX_HOST, removeDir, sluice, startNodeFrom, tempDir, wire, writeConfig, type RunningNode } from '../plugin-host/harness.js';

const haveRedis = redisServerPath() !== null;

let mx: TestMx;
let redis: PrivateRedis;
let gw: RunningNode;
const dir = tempDir();
let config = '';

beforeAll(async () => {
  if (!haveRedis) return;
  mx = await startTestMx({ host: MX_HOST });
  redis = await startRedis();
  config = writeConfig(dir, { plugins: ['suppression'], mx: mx.address, extra: `[cluster]\nredis_url = "${redis.url}"\ncommand_timeout = "300ms"\n` });
  gw = await startNodeFrom(config, dir);
});

afterAll(async () => {
  await gw?.stop();
  await redis?.stop();
  await mx?.close();
  await removeDir(dir);
});

async function rcptReply(rcpt: string): Promise<string> {
  const c = await client(gw.port);
  await c.cmd('MAIL FROM:<app@app.test>');
  const r = wire(await c.cmd(`RCPT TO:<${rcpt}>`));
  c.close();
  return r;
}

describe.skipIf(!haveRedis)('suppression on Redis', () => {
  it('a CLI add while the node runs is refused at once', async () => {
    expect(await rcptReply('late@example.net')).toMatch(/^250 /);
    expect((await sluice(['suppress', 'add', 'late@example.net', '--reason', 'complaint', '--config', config])).stdout).toBe('added 1 (0 already listed)\n');
    expect(await rcptReply('late@example.net')).toBe('550 5.7.1 Recipient suppressed: complaint');
  });

  it('Redis down: every recipient is deferred with 451 4.3.0, none accepted unchecked', async () => {
    await redis.kill();
    expect(await rcptReply('anyone@example.net')).toBe('451 4.3.0 Suppression list unavailable, try again later');
    expect(await rcptReply('late@example.net')).toBe('451 4.3.0 Suppression list unavailable, try again later');
    await redis.restart();
    // The private Redis keeps nothing on disk: the list is empty after its restart.
    await expect.poll(() => rcptReply('anyone@example.net'), { timeout: 10_000 }).toMatch(/^250 /);
  });
});
