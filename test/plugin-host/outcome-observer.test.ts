/**
 * Outcome observers: a plugin's `delivered` observer gets the event once the MX took
 * the message, with the plugin's own config as ctx.config.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeEvent } from '../../dist/gateway/plugin-host/public.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, startNode, tempDir, type RunningNode } from './harness.js';

interface Observed {
  readonly kind: string;
  readonly event: OutcomeEvent;
  readonly configSeen?: unknown;
}

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);
const observed = (): Observed[] => ((globalThis as { __gatekeeperOutcomes?: Observed[] }).__gatekeeperOutcomes ??= []);

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: [fixture('gatekeeper.mjs')], mx: mx.address, extra: '[gatekeeper]\nnote = "from the config"\n' }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('outcome observers', () => {
  it('a delivered observer receives the event for each recipient', async () => {
    const c = await client(gw.port);
    const r = await c.send('app@app.test', ['one@example.net', 'two@example.net'], message({ subject: 'observe me' }));
    expect(r?.code).toBe(250);
    const queueId = /queued as (\S+)/.exec(r?.text ?? '')?.[1];
    c.close();
    await mx.waitFor(1);
    await expect.poll(() => observed().filter((o) => o.kind === 'delivered').length, { timeout: 5_000 }).toBe(2);
    const delivered = observed().filter((o) => o.kind === 'delivered');
    expect(delivered.map((o) => o.event.recipient).sort()).toEqual(['one@example.net', 'two@example.net']);
    for (const o of delivered) {
      expect(o.event).toMatchObject({ queueId, mailFrom: 'app@app.test', class: 'transactional', mx: MX_HOST });
      expect(o.event.reply).toMatch(/^250/);
      expect(o.configSeen).toEqual({ note: 'from the config' });
    }
  });
});
