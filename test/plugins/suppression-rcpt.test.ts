/**
 * A suppressed recipient is refused at RCPT TO with 550 5.7.1 and the reason; the other
 * recipients of the same message are delivered. `@domain` entries cover a whole domain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, sluice, startNodeFrom, tempDir, wire, writeConfig, type RunningNode } from '../plugin-host/harness.js';

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  const config = writeConfig(dir, { plugins: ['suppression'], mx: mx.address });
  expect((await sluice(['suppress', 'add', 'gone@example.net', '--reason', 'hard-bounce', '--config', config])).code).toBe(0);
  expect((await sluice(['suppress', 'add', 'optout@example.net', '--reason', 'unsubscribe', '--config', config])).code).toBe(0);
  expect((await sluice(['suppress', 'add', '@blocked.test', '--config', config])).code).toBe(0);
  gw = await startNodeFrom(config, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('suppression at RCPT TO', () => {
  it('refuses each suppressed recipient with its reason and delivers the others', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<gone@example.net>'))).toBe('550 5.7.1 Recipient suppressed: hard-bounce');
    expect((await c.cmd('RCPT TO:<ok@example.net>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<OptOut@Example.NET>'))).toBe('550 5.7.1 Recipient suppressed: unsubscribe');
    expect((await c.cmd('RCPT TO:<ok2@example.net>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    c.write(`${message({ subject: 'mixed recipients' })}.\r\n`);
    expect((await c.read())?.code).toBe(250);
    c.close();
    const [got] = await mx.waitFor(1);
    expect([...(got?.rcpts ?? [])].sort()).toEqual(['ok2@example.net', 'ok@example.net']);
  });

  it('refuses every address of a suppressed @domain, and only that domain', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<anyone@blocked.test>'))).toBe('550 5.7.1 Recipient suppressed: manual');
    expect(wire(await c.cmd('RCPT TO:<someone.else@BLOCKED.test>'))).toBe('550 5.7.1 Recipient suppressed: manual');
    expect((await c.cmd('RCPT TO:<anyone@notblocked.test>'))?.code).toBe(250);
    c.close();
  });
});
