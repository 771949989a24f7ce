/** The suppression plugin's hooks, against an in-memory store (no node, no sockets). */
import { describe, expect, it } from 'vitest';
import type { OutcomeEvent, Plugin } from '../../gateway/plugin-host/public.js';
import { createSuppressionPlugin, configSchema } from '../../plugins/suppression/index.js';
import type { SuppressionConfig } from '../../plugins/suppression/config.js';
import { MemorySuppression, observerCtx, rcptCtx, recordingLog, setupCtx } from '../plugin-host/fake-ctx.js';

const AT = Date.UTC(2026, 10, 28);

async function ready(table: unknown = {}): Promise<{ plugin: Plugin<SuppressionConfig>; config: SuppressionConfig; store: MemorySuppression }> {
  const store = new MemorySuppression();
  await store.add([
    { address: 'gone@example.net', reason: 'hard-bounce', source: 'delivery', at: AT },
    { address: 'optout@example.net', reason: 'unsubscribe', source: 'cli', at: AT },
    { address: '@blocked.test', reason: 'manual', source: 'cli', at: AT },
  ]);
  const plugin = createSuppressionPlugin();
  const config = (await plugin.setup?.(setupCtx(table, store))) as SuppressionConfig;
  return { plugin, config, store };
}

function event(recipient: string): OutcomeEvent {
  return { queueId: 'Q1', messageId: '<m@x>', recipient, mailFrom: 'app@example.com', class: 'promotional', pool: 'promo', source: 's1', provider: 'gmail', mx: 'mx.test', reply: null, enhanced: null, attempt: 1, at: AT + 5 };
}

describe('suppression config', () => {
  it('defaults to reject with domain entries honoured', () => {
    expect(configSchema.parse({})).toEqual({ action: 'reject', check_domain: true });
  });

  it('refuses unknown keys and unknown actions', () => {
    const unknown = configSchema.safeParse({ acton: 'drop' });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.message).toBe('unknown key "acton" (known keys: action, check_domain)');
    const bad = configSchema.safeParse({ action: 'bounce' });
    expect(bad.error?.issues[0]?.path).toEqual(['action']);
  });
});

describe('suppression rcpt hook', () => {
  it('rejects a listed address with 550 5.7.1 and the reason', async () => {
    const { plugin, config } = await ready();
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'gone@example.net'))).toEqual({ kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Recipient suppressed: hard-bounce' });
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'OptOut@Example.NET'))).toEqual({ kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Recipient suppressed: unsubscribe' });
  });

  it('lets an address that is not listed through', async () => {
    const { plugin, config } = await ready();
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'fine@example.net'))).toEqual({ kind: 'next' });
  });

  it('rejects every address of a listed @domain, and only with check_domain on', async () => {
    const on = await ready();
    expect(await on.plugin.hooks.rcpt?.(rcptCtx(on.config, 'anyone@blocked.test'))).toMatchObject({ kind: 'reject', text: 'Recipient suppressed: manual' });
    expect(await on.plugin.hooks.rcpt?.(rcptCtx(on.config, 'anyone@sub.blocked.test'))).toEqual({ kind: 'next' });
    const off = await ready({ check_domain: false });
    expect(await off.plugin.hooks.rcpt?.(rcptCtx(off.config, 'anyone@blocked.test'))).toEqual({ kind: 'next' });
    expect(await off.plugin.hooks.rcpt?.(rcptCtx(off.config, 'gone@example.net'))).toMatchObject({ kind: 'reject' });
  });

  it('drops instead of rejecting with action = "drop"', async () => {
    const { plugin, config } = await ready({ action: 'drop' });
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'gone@example.net'))).toEqual({ kind: 'drop', reason: 'suppressed: hard-bounce' });
  });

  it('defers 451 4.3.0 when the store cannot answer, and logs it', async () => {
    const { plugin, config, store } = await ready();
    store.failWith = new Error('redis down');
    const log = recordingLog();
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'fine@example.net', { log }))).toEqual({ kind: 'defer', code: 451, enhanced: '4.3.0', text: 'Suppression list unavailable, try again later' });
    expect(log.lines.some((l) => l.level === 'warn' && (l.obj as { event?: string }).event === 'suppression_unavailable')).toBe(true);
  });
});

describe('suppression complained observer', () => {
  it('adds the complaining address with reason complaint', async () => {
    const { plugin, config, store } = await ready();
    plugin.hooks.complained?.(event('Angry@Example.NET'), observerCtx(config));
    await expect.poll(() => store.entries.get('angry@example.net')).toMatchObject({ address: 'angry@example.net', reason: 'complaint', at: AT + 5 });
    expect(await plugin.hooks.rcpt?.(rcptCtx(config, 'angry@example.net'))).toMatchObject({ kind: 'reject', text: 'Recipient suppressed: complaint' });
  });

  it('logs, and does not throw, when the store cannot take it', async () => {
    const { plugin, config, store } = await ready();
    store.failWith = new Error('redis down');
    const log = recordingLog();
    expect(() => plugin.hooks.complained?.(event('x@example.net'), observerCtx(config, log))).not.toThrow();
    await expect.poll(() => log.lines.some((l) => l.level === 'warn')).toBe(true);
  });
});
