/**
 * The embedded suppression list lives in the data dir: entries added by the CLI and by
 * the node itself (a hard bounce) are still there after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, sluice, startNodeFrom, tempDir, wire, writeConfig } from '../plugin-host/harness.js';

let mx: TestMx;
const dir = tempDir();
let config = '';

beforeAll(async () => {
  mx = await startTestMx({
    host: MX_HOST,
    rejectRcpt: (rcpt) => (rcpt.startsWith('nobody@') ? { code: 550, message: '5.1.1 No such user' } : null),
  });
  config = writeConfig(dir, { plugins: ['suppression'], mx: mx.address });
});

afterAll(async () => {
  await mx?.close();
  await removeDir(dir);
});

async function rcptReply(port: number, rcpt: string): Promise<string> {
  const c = await client(port);
  await c.cmd('MAIL FROM:<app@app.test>');
  const r = wire(await c.cmd(`RCPT TO:<${rcpt}>`));
  c.close();
  return r;
}

describe('the embedded suppression list across restarts', () => {
  it('keeps CLI and hard-bounce entries', async () => {
    expect((await sluice(['suppress', 'add', 'optout@example.net', '--reason', 'unsubscribe', '--config', config])).code).toBe(0);

    const first = await startNodeFrom(config, dir);
    const bounced: string[] = [];
    first.node.plugins.outcomes.on('bounced', (e) => bounced.push(e.recipient));
    const c = await client(first.port);
    expect((await c.send('app@app.test', ['nobody@example.net'], message()))?.code).toBe(250);
    c.close();
    await expect.poll(() => bounced, { timeout: 10_000 }).toEqual(['nobody@example.net']);
    await expect.poll(() => rcptReply(first.port, 'nobody@example.net'), { timeout: 5_000 }).toBe('550 5.7.1 Recipient suppressed: hard-bounce');
    await first.stop();

    const second = await startNodeFrom(config, dir);
    try {
      expect(await rcptReply(second.port, 'optout@example.net')).toBe('550 5.7.1 Recipient suppressed: unsubscribe');
      expect(await rcptReply(second.port, 'nobody@example.net')).toBe('550 5.7.1 Recipient suppressed: hard-bounce');
      expect(await rcptReply(second.port, 'fine@example.net')).toMatch(/^250 /);
    } finally {
      await second.stop();
    }
  });
});
