/**
 * A hard bounce (the MX answers 550 5.1.1) puts the address on the suppression list by
 * itself, and the next message to it is refused at RCPT TO.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, sluice, startNode, tempDir, wire, type RunningNode } from '../plugin-host/harness.js';

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({
    host: MX_HOST,
    rejectRcpt: (rcpt) => (rcpt.startsWith('nobody@') ? { code: 550, message: '5.1.1 No such user' } : null),
  });
  gw = await startNode({ plugins: ['suppression'], mx: mx.address }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('hard bounces feed the suppression list', () => {
  it('a 550 5.1.1 from the MX suppresses the address; the next message is refused at RCPT', async () => {
    const bounced: string[] = [];
    gw.node.plugins.outcomes.on('bounced', (e) => bounced.push(e.recipient));
    const c = await client(gw.port);
    expect((await c.send('app@app.test', ['nobody@example.net'], message({ subject: 'first try' })))?.code).toBe(250);
    await expect.poll(() => bounced, { timeout: 10_000 }).toEqual(['nobody@example.net']);

    // The list is written in the background after the outcome: poll the wire.
    await expect
      .poll(
        async () => {
          expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
          const r = wire(await c.cmd('RCPT TO:<nobody@example.net>'));
          await c.cmd('RSET');
          return r;
        },
        { timeout: 5_000 },
      )
      .toBe('550 5.7.1 Recipient suppressed: hard-bounce');
    c.close();

    // Operators see it with the CLI too (it reads the same list).
    const check = await sluice(['suppress', 'check', 'nobody@example.net', '--config', gw.configFile]);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^nobody@example\.net\tsuppressed\tnobody@example\.net\thard-bounce\tdelivery /);
  });
});
