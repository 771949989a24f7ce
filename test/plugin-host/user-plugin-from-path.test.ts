/**
 * A user plugin loaded from a path in [plugins] order, with its own config table: the
 * documented example, plugins/examples/subject-filter.mjs, as a user would copy it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataCtx, Headers, Verdict } from '../../dist/gateway/plugin-host/public.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, EXAMPLE_PLUGIN, message, MX_HOST, removeDir, startNode, tempDir, wire, type RunningNode } from './harness.js';

const TABLE = `
[subject-filter]
reject = ["lottery", "you have won"]
reject_text = "Message refused by content policy"

[[subject-filter.campaigns]]
subject = "^Weekly digest"
campaign = "weekly-digest"
`;

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: [EXAMPLE_PLUGIN], mx: mx.address, extra: TABLE }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('a user plugin from a path', () => {
  it('is loaded under its own name', () => {
    expect(gw.node.plugins.names()).toEqual(['subject-filter']);
  });

  it('refuses a message whose Subject matches, with the configured text', async () => {
    const c = await client(gw.port);
    const r = await c.send('app@app.test', ['user@example.net'], message({ subject: 'You have WON the Lottery' }));
    expect(wire(r)).toBe('550 5.7.1 Message refused by content policy');
    // Other mail goes through.
    expect((await c.send('app@app.test', ['user@example.net'], message({ subject: 'Your invoice' })))?.code).toBe(250);
    c.close();
    const got = await mx.waitFor(1);
    expect(got.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1])).toEqual(['Your invoice']);
  });
});

describe('the example data hook (unit)', () => {
  const plugin = async () => (await import(EXAMPLE_PLUGIN)).default as {
    configSchema: { safeParse(x: unknown): { success: boolean; data?: unknown } };
    setup(ctx: unknown): unknown;
    hooks: { data(ctx: unknown): Verdict };
  };

  function ctxFor(config: unknown, subject: string, campaign: string | null): DataCtx<unknown> {
    const headers = { get: (n: string) => (n.toLowerCase() === 'subject' ? subject : null) } as unknown as Headers;
    const v = {
      next: (): Verdict => ({ kind: 'next' }),
      accept: (): Verdict => ({ kind: 'accept' }),
      reject: (code: number, enhanced: string, text: string): Verdict => ({ kind: 'reject', code, enhanced, text }),
      defer: (code: number, enhanced: string, text: string): Verdict => ({ kind: 'defer', code, enhanced, text }),
      drop: (reason: string): Verdict => ({ kind: 'drop', reason }),
    };
    const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    return {
      ...v,
      log,
      config,
      connection: { id: 's1', remoteAddress: '127.0.0.1', remotePort: 1, helo: 'app.test', authUser: null, tls: false, mode: 'relay', listener: 'l' },
      transaction: { mailFrom: 'app@app.test', rcpts: ['u@example.net'], class: 'transactional', pool: null, priority: null, campaign },
      message: { headers, body: Buffer.alloc(0), size: 0 },
    };
  }

  it('tags the campaign from the Subject unless the app set X-Campaign-ID', async () => {
    const p = await plugin();
    const parsed = p.configSchema.safeParse({ campaigns: [{ subject: '^weekly digest', campaign: 'weekly-digest' }] });
    expect(parsed.success).toBe(true);
    const log = { info: () => undefined };
    const config = p.setup({ config: parsed.data, log });
    const tagged = ctxFor(config, 'Weekly Digest #12', null);
    expect(p.hooks.data(tagged)).toEqual({ kind: 'next' });
    expect(tagged.transaction.campaign).toBe('weekly-digest');
    const fromApp = ctxFor(config, 'Weekly Digest #12', 'spring-sale');
    p.hooks.data(fromApp);
    expect(fromApp.transaction.campaign).toBe('spring-sale');
    const other = ctxFor(config, 'Password reset', null);
    p.hooks.data(other);
    expect(other.transaction.campaign).toBeNull();
  });
});
