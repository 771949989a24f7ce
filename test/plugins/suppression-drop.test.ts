/**
 * `[suppression] action = "drop"`: a suppressed recipient is accepted at RCPT TO, never
 * delivered, and reported as a `suppressed` outcome; the others are delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeEvent } from '../../dist/gateway/plugin-host/public.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, sluice, startNodeFrom, tempDir, writeConfig, type RunningNode } from '../plugin-host/harness.js';

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  const config = writeConfig(dir, { plugins: ['suppression'], mx: mx.address, extra: '[suppression]\naction = "drop"\n' });
  expect((await sluice(['suppress', 'add', 'gone@example.net', '--reason', 'unsubscribe', '--config', config])).code).toBe(0);
  gw = await startNodeFrom(config, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('suppression in drop mode', () => {
  it('accepts the suppressed recipient, delivers only the others, and emits suppressed', async () => {
    const suppressed: OutcomeEvent[] = [];
    gw.node.plugins.outcomes.on('suppressed', (e) => suppressed.push(e));
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<gone@example.net>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<kept@example.net>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    c.write(`${message({ subject: 'drop mode' })}.\r\n`);
    const reply = await c.read();
    expect(reply?.code).toBe(250);
    c.close();
    const [got] = await mx.waitFor(1);
    expect(got?.rcpts).toEqual(['kept@example.net']);
    expect(suppressed.map((e) => e.recipient)).toEqual(['gone@example.net']);
    expect(suppressed[0]?.queueId).toBe(/queued as (\S+)/.exec(reply?.text ?? '')?.[1]);
  });

  it('answers 250 for a message whose only recipient is suppressed, and delivers nothing', async () => {
    const before = mx.messages.length;
    const c = await client(gw.port);
    expect((await c.send('app@app.test', ['gone@example.net'], message({ subject: 'only suppressed' })))?.code).toBe(250);
    expect((await c.send('app@app.test', ['later@example.net'], message({ subject: 'after it' })))?.code).toBe(250);
    c.close();
    await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('later@example.net')));
    expect(mx.messages.slice(before).flatMap((m) => m.rcpts)).toEqual(['later@example.net']);
  });

  it('reports the plugin\'s reason in the suppressed event', async () => {
    const suppressed: OutcomeEvent[] = [];
    gw.node.plugins.outcomes.on('suppressed', (e) => suppressed.push(e));
    const c = await client(gw.port);
    expect((await c.send('app@app.test', ['Gone@Example.net'], message({ subject: 'reason' })))?.code).toBe(250);
    c.close();
    await expect.poll(() => suppressed.length).toBe(1);
    expect(suppressed[0]).toMatchObject({ recipient: 'Gone@Example.net', reply: '550 5.7.1 suppressed: unsubscribe', enhanced: '5.7.1' });
  });
});
