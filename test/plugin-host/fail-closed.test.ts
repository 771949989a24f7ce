/**
 * A hook that throws, times out or returns something that is not a verdict fails
 * closed: 451 4.3.0, logged with the plugin's name, and the node goes on serving.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, startNode, tempDir, wire, type RunningNode } from './harness.js';

const FAIL_CLOSED = '451 4.3.0 Local error in processing, try again later';
const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();
const log: string[] = [];

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: [fixture('verdicts.mjs')], mx: mx.address, timeout: '400ms' }, dir, log);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

function logged(match: Record<string, unknown>): boolean {
  return log.some((line) => {
    const rec = JSON.parse(line) as Record<string, unknown>;
    return Object.entries(match).every(([k, v]) => rec[k] === v);
  });
}

describe('a failing hook fails closed', () => {
  it('a hook that throws answers 451 4.3.0, is logged with the plugin name, and the next session is served', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<throw@example.net>'))).toBe(FAIL_CLOSED);
    c.close();
    expect(logged({ plugin: 'verdicts', hook: 'rcpt', msg: 'hook rcpt threw' })).toBe(true);

    const next = await client(gw.port);
    expect((await next.send('app@app.test', ['after-throw@example.net'], message({ subject: 'after a throw' })))?.code).toBe(250);
    next.close();
    const got = await mx.waitFor(1);
    expect(got.some((m) => m.rcpts.includes('after-throw@example.net'))).toBe(true);
  });

  it('a hook slower than [plugins] timeout answers 451 4.3.0 when the timeout expires', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    const started = Date.now();
    expect(wire(await c.cmd('RCPT TO:<slow@example.net>'))).toBe(FAIL_CLOSED);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(2_500); // the hook itself takes 3 s
    // The same session goes on: a later recipient is judged afresh.
    expect((await c.cmd('RCPT TO:<fine@example.net>'))?.code).toBe(250);
    c.close();
    expect(logged({ plugin: 'verdicts', hook: 'rcpt', msg: 'hook rcpt timed out' })).toBe(true);
  });

  it('a hook that returns something other than a verdict answers 451 4.3.0', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<garbage@example.net>'))).toBe(FAIL_CLOSED);
    c.close();
  });

  it('counts each failure in sluice_plugin_failures_total{plugin,hook,reason}', async () => {
    // The three tests above: one throw, one timeout and one invalid verdict at rcpt.
    const text = await gw.node.registry.getSingleMetricAsString('sluice_plugin_failures_total');
    for (const reason of ['threw', 'timeout', 'invalid_verdict']) {
      expect(text).toContain(`sluice_plugin_failures_total{plugin="verdicts",hook="rcpt",reason="${reason}"} 1`);
    }
  });
});
