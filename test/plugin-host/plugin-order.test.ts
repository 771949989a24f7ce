/**
 * Plugins run in [plugins] order and the first verdict that is not `next` decides: the
 * plugins after it are not asked.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, MX_HOST, removeDir, startNode, tempDir, wire, type RunningNode } from './harness.js';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const gatekeeperCalls = (): string[] => ((globalThis as { __gatekeeperCalls?: string[] }).__gatekeeperCalls ??= []);

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: [fixture('verdicts.mjs'), fixture('gatekeeper.mjs')], mx: mx.address }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

beforeEach(() => {
  gatekeeperCalls().length = 0;
});

describe('plugin order', () => {
  it('loads both plugins in the configured order', () => {
    expect(gw.node.plugins.names()).toEqual(['verdicts', 'gatekeeper']);
  });

  it('an earlier accept wins over a later reject, which is never asked', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<accept@example.net>'))?.code).toBe(250);
    c.close();
    expect(gatekeeperCalls()).toEqual([]);
  });

  it('an earlier reject wins; the later plugin is not asked', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<reject@example.net>'))).toBe('550 5.1.1 No such user here');
    c.close();
    expect(gatekeeperCalls()).toEqual([]);
  });

  it('when the earlier plugin says next, the later one decides', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<gated@example.net>'))).toBe('550 5.7.2 Gatekeeper says no');
    expect((await c.cmd('RCPT TO:<open@example.net>'))?.code).toBe(250);
    c.close();
    expect(gatekeeperCalls()).toEqual(['gated@example.net', 'open@example.net']);
  });
});
