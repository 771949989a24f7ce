/** The classify plugin's config and data hook, with hook contexts built in memory. */
import { describe, expect, it } from 'vitest';
import type { ConnectionInfo, DataCtx, TransactionInfo } from '../../gateway/plugin-host/public.js';
import { configSchema, createClassifyPlugin } from '../../plugins/classify/index.js';
import type { ClassifyConfig } from '../../plugins/classify/config.js';
import { globToRegExp } from '../../plugins/classify/rules.js';
import { NetworkList } from '../../gateway/plugin-host/public.js';
import { dataCtx, recordingLog, setupCtx } from '../plugin-host/fake-ctx.js';

interface Msg {
  headers?: string[];
  connection?: Partial<ConnectionInfo>;
  transaction?: Partial<TransactionInfo>;
}

async function classifier(table: unknown): Promise<(m?: Msg) => Promise<DataCtx<ClassifyConfig>>> {
  const plugin = createClassifyPlugin();
  const config = (await plugin.setup?.(setupCtx(table))) as ClassifyConfig;
  return async (m = {}) => {
    const ctx = dataCtx(config, m.headers ?? ['From: <app@example.com>', 'Subject: hi'], { ...(m.connection ? { connection: m.connection } : {}), ...(m.transaction ? { transaction: m.transaction } : {}) });
    expect(await plugin.hooks.data?.(ctx)).toEqual({ kind: 'next' });
    return ctx;
  };
}

describe('classify config', () => {
  it('has defaults for everything', () => {
    expect(configSchema.parse({})).toEqual({ default: 'transactional', trust_header: false, rules: [] });
  });

  it('names unknown keys, at the top and in a rule', () => {
    const top = configSchema.safeParse({ defualt: 'x' });
    expect(top.error?.issues.map((i) => [i.path, i.message])).toEqual([[[], 'unknown key "defualt" (known keys: default, trust_header, rules)']]);
    const inRule = configSchema.safeParse({ rules: [{ sender: '*', class: 'a', pol: 'x' }] });
    expect(inRule.error?.issues[0]?.path).toEqual(['rules', 0]);
    expect(inRule.error?.issues[0]?.message).toMatch(/^unknown key "pol" \(known keys: header, sender, auth_user, client_network, recipient_domain, class, pool, priority\)$/);
  });

  it('refuses a rule that matches nothing in particular, bad class names, networks and priorities', () => {
    const paths = (t: unknown) => configSchema.safeParse(t).error?.issues.map((i) => i.path.join('.'));
    expect(paths({ rules: [{ class: 'promotional' }] })).toEqual(['rules.0']);
    expect(paths({ rules: [{ sender: '*', class: 'Promo tional' }] })).toEqual(['rules.0.class']);
    expect(paths({ default: 'UPPER' })).toEqual(['default']);
    expect(paths({ rules: [{ client_network: ['10.0.0.0/8', '300.1.1.1'], class: 'x' }] })).toEqual(['rules.0.client_network.1']);
    expect(paths({ rules: [{ sender: '*', class: 'x', priority: 100 }] })).toEqual(['rules.0.priority']);
    expect(paths({ rules: [{ header: { 'Bad Name': '*' }, class: 'x' }] })).toEqual(['rules.0.header.Bad Name']);
  });

  it('takes one network or a list', () => {
    expect(configSchema.parse({ rules: [{ client_network: '192.0.2.7', class: 'x' }] }).rules[0]?.client_network).toEqual(['192.0.2.7']);
  });
});

describe('globs and networks', () => {
  it('globs are case-insensitive, * is any run, ? one character', () => {
    expect(globToRegExp('*@News.Example.com').test('promo@news.example.COM')).toBe(true);
    expect(globToRegExp('user-?').test('user-1')).toBe(true);
    expect(globToRegExp('user-?').test('user-12')).toBe(false);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('*').test('')).toBe(true);
  });

  it('networks match IPv4, IPv6 and IPv4-mapped clients', () => {
    const nets = new NetworkList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    expect(nets.contains('10.9.8.7')).toBe(true);
    expect(nets.contains('::ffff:10.9.8.7')).toBe(true);
    expect(nets.contains('192.0.2.7')).toBe(true);
    expect(nets.contains('192.0.2.8')).toBe(false);
    expect(nets.contains('2001:db8::25')).toBe(true);
    expect(nets.contains('2001:db9::25')).toBe(false);
    expect(nets.contains('not an ip')).toBe(false);
  });
});

describe('classify data hook', () => {
  it('gives the default class when no rule matches', async () => {
    expect((await (await classifier({}))()).transaction.class).toBe('transactional');
    expect((await (await classifier({ default: 'general' }))()).transaction.class).toBe('general');
  });

  it('header rules: "*" means present, otherwise a glob on any value', async () => {
    const run = await classifier({
      rules: [
        { header: { 'List-Unsubscribe': '*' }, class: 'promotional' },
        { header: { 'X-Mailer': 'Mass*' }, class: 'bulk' },
      ],
    });
    expect((await run({ headers: ['List-Unsubscribe: <mailto:u@x>', 'Subject: a'] })).transaction.class).toBe('promotional');
    expect((await run({ headers: ['list-unsubscribe:', 'Subject: a'] })).transaction.class).toBe('promotional');
    expect((await run({ headers: ['X-Mailer: Other', 'X-Mailer: massmailer 2.0'] })).transaction.class).toBe('bulk');
    expect((await run({ headers: ['X-Mailer: Thunderbird'] })).transaction.class).toBe('transactional');
  });

  it('sender, auth_user, client_network and recipient_domain rules', async () => {
    const run = await classifier({
      rules: [
        { sender: '*@news.example.com', class: 'newsletter' },
        { auth_user: 'marketing-*', class: 'promotional' },
        { client_network: ['10.20.0.0/16', '2001:db8::/32'], class: 'internal' },
        { recipient_domain: '*.partner.test', class: 'partner' },
      ],
    });
    expect((await run({ transaction: { mailFrom: 'Weekly@NEWS.example.com' } })).transaction.class).toBe('newsletter');
    expect((await run({ connection: { authUser: 'marketing-eu' } })).transaction.class).toBe('promotional');
    expect((await run({ connection: { authUser: 'billing' } })).transaction.class).toBe('transactional');
    expect((await run({ connection: { remoteAddress: '10.20.3.4' } })).transaction.class).toBe('internal');
    expect((await run({ connection: { remoteAddress: '::ffff:10.20.3.4' } })).transaction.class).toBe('internal');
    expect((await run({ connection: { remoteAddress: '10.21.3.4' } })).transaction.class).toBe('transactional');
    expect((await run({ transaction: { rcpts: ['a@example.net', 'b@eu.partner.test'] } })).transaction.class).toBe('partner');
    expect((await run({ transaction: { rcpts: ['a@partner.test'] } })).transaction.class).toBe('transactional');
  });

  it('auth_user "*" matches any authenticated user and never an anonymous session', async () => {
    const run = await classifier({ rules: [{ auth_user: '*', class: 'authenticated' }] });
    expect((await run({ connection: { authUser: 'x' } })).transaction.class).toBe('authenticated');
    expect((await run({ connection: { authUser: null } })).transaction.class).toBe('transactional');
  });

  it('every field of a rule must match, and the first matching rule wins', async () => {
    const run = await classifier({
      rules: [
        { sender: '*@billing.example.com', recipient_domain: 'vip.test', class: 'vip', pool: 'vip-pool', priority: 90 },
        { sender: '*@billing.example.com', class: 'billing' },
        { sender: '*', class: 'catch-all' },
      ],
    });
    const vip = await run({ transaction: { mailFrom: 'inv@billing.example.com', rcpts: ['ceo@vip.test'] } });
    expect([vip.transaction.class, vip.transaction.pool, vip.transaction.priority]).toEqual(['vip', 'vip-pool', 90]);
    const billing = await run({ transaction: { mailFrom: 'inv@billing.example.com', rcpts: ['x@other.test'] } });
    expect([billing.transaction.class, billing.transaction.pool, billing.transaction.priority]).toEqual(['billing', null, null]);
    expect((await run({ transaction: { mailFrom: 'x@y.test' } })).transaction.class).toBe('catch-all');
  });

  it('trust_header: an authenticated client chooses the class with X-Sluice-Class', async () => {
    const run = await classifier({ trust_header: true, rules: [{ header: { 'List-Unsubscribe': '*' }, class: 'promotional', pool: 'promo' }] });
    const authed = await run({ headers: ['X-Sluice-Class: Alerts', 'List-Unsubscribe: <u>'], connection: { authUser: 'app' } });
    expect([authed.transaction.class, authed.transaction.pool]).toEqual(['alerts', null]);
    // Without AUTH the header is ignored and the rules decide.
    const anon = await run({ headers: ['X-Sluice-Class: alerts', 'List-Unsubscribe: <u>'], connection: { authUser: null } });
    expect([anon.transaction.class, anon.transaction.pool]).toEqual(['promotional', 'promo']);
  });

  it('trust_header: a value that is not a class name is ignored and logged', async () => {
    const plugin = createClassifyPlugin();
    const config = (await plugin.setup?.(setupCtx({ trust_header: true }))) as ClassifyConfig;
    const log = recordingLog();
    const ctx = dataCtx(config, ['X-Sluice-Class: promo tional; drop table'], { connection: { authUser: 'app' }, log });
    await plugin.hooks.data?.(ctx);
    expect(ctx.transaction.class).toBe('transactional');
    expect(log.lines.some((l) => l.level === 'warn' && (l.obj as { event?: string }).event === 'class_header_ignored')).toBe(true);
  });

  it('trust_header off: the header means nothing, even from an authenticated client', async () => {
    const run = await classifier({});
    expect((await run({ headers: ['X-Sluice-Class: alerts'], connection: { authUser: 'app' } })).transaction.class).toBe('transactional');
  });
});
