import { execFile } from 'node:child_process';
import { HeaderBlock } from '../../gateway/plugin-host/headers.js';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimKeygen } from '../../gateway/cli/dkim-keygen.js';
import type { DataCtx, Headers, PluginLogger, SetupCtx, Verdict } from '../../gateway/plugin-host/public.js';
import { createDkimPlugin } from '../../plugins/dkim/index.js';
import type { DkimConfig } from '../../plugins/dkim/config.js';
import { loadKeys, type LoadedKey } from '../../plugins/dkim/keys.js';
import { fromDomain, signMessage } from '../../plugins/dkim/sign.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
// Debian's python3-dkim lives in the system interpreter, not in a pyenv one.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface Verified {
  ok: boolean;
  d: string;
  s: string;
  a: string;
  h: string;
  error: string | null;
}

let dir = '';
const records: Record<string, string> = {};
let rsa: LoadedKey;
let ed: LoadedKey;
let rsaSub: LoadedKey;
let other: LoadedKey;

async function verify(raw: Buffer | string): Promise<Verified[]> {
  const file = join(dir, `msg-${Math.random().toString(36).slice(2)}.eml`);
  await writeFile(file, raw);
  const { stdout } = await run(PYTHON, [join(here, 'verify_dkim.py'), file, JSON.stringify(records)]);
  return JSON.parse(stdout) as Verified[];
}

function prepend(values: readonly string[], raw: string | Buffer): Buffer {
  const head = values.map((v) => `DKIM-Signature: ${v}\r\n`).join('');
  return Buffer.concat([Buffer.from(head), Buffer.isBuffer(raw) ? raw : Buffer.from(raw)]);
}

async function makeKey(domain: string, selector: string, algorithm: 'rsa' | 'ed25519', subDomains = false): Promise<LoadedKey> {
  const made = await dkimKeygen({ domain, selector, algorithm, dir });
  records[made.txtName] = made.txtValue;
  const [key] = await loadKeys([{ domain, selector, key: made.path, sub_domains: subDomains }], { baseDir: dir, configFile: 'test.toml' });
  if (key === undefined) throw new Error('no key');
  return key;
}

const simple = [
  'From: Alice <alice@example.com>',
  'To: bob@example.net',
  'Subject: Hello',
  'Date: Mon, 02 Nov 2026 10:00:00 +0000',
  'Message-ID: <1@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Bob.',
  '',
].join('\r\n');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-dkim-'));
  rsa = await makeKey('example.com', 'rsa1', 'rsa');
  ed = await makeKey('example.com', 'ed1', 'ed25519');
  rsaSub = await makeKey('parent.test', 'sub1', 'rsa', true);
  other = await makeKey('upstream.test', 'up1', 'ed25519');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('signMessage', () => {
  it('signs with RSA (relaxed/relaxed) and dkimpy verifies it', async () => {
    const sigs = await signMessage(Buffer.from(simple), [rsa]);
    expect(sigs).toHaveLength(1);
    expect(sigs[0]).toMatch(/^v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example.com;/);
    const [result] = await verify(prepend(sigs, simple));
    expect(result).toMatchObject({ ok: true, d: 'example.com', s: 'rsa1', a: 'rsa-sha256' });
  });

  it('signs with Ed25519 (RFC 8463)', async () => {
    const sigs = await signMessage(Buffer.from(simple), [ed]);
    const [result] = await verify(prepend(sigs, simple));
    expect(result).toMatchObject({ ok: true, s: 'ed1', a: 'ed25519-sha256' });
  });

  it('puts an RSA and an Ed25519 signature on one message', async () => {
    const sigs = await signMessage(Buffer.from(simple), [rsa, ed]);
    expect(sigs).toHaveLength(2);
    const results = await verify(prepend(sigs, simple));
    expect(results.map((r) => [r.a, r.ok])).toEqual([
      ['rsa-sha256', true],
      ['ed25519-sha256', true],
    ]);
  });

  it('over-signs From, To, Subject, Date, Message-ID and List-*', async () => {
    const [sig] = await signMessage(Buffer.from(simple), [rsa]);
    const h = (sig ?? '').replace(/\s+/g, ' ').match(/h=([^;]+)/)?.[1]?.split(':').map((s) => s.trim().toLowerCase()) ?? [];
    const count = (name: string): number => h.filter((n) => n === name).length;
    for (const name of ['from', 'to', 'subject', 'date', 'message-id']) expect(count(name), name).toBe(2);
    for (const name of ['list-unsubscribe', 'list-unsubscribe-post', 'list-id']) expect(count(name), name).toBe(1);
    expect(count('mime-version')).toBe(1);
    expect(count('cc')).toBe(0);
    expect(count('dkim-signature')).toBe(0);
  });

  it('breaks when a signed or over-signed header is added or changed afterwards', async () => {
    const signed = prepend(await signMessage(Buffer.from(simple), [rsa]), simple).toString();
    expect((await verify(signed))[0]?.ok).toBe(true);
    const tampered = [
      signed.replace('Subject: Hello', 'Subject: Hello!'),
      signed.replace('Subject: Hello\r\n', 'Subject: Hello\r\nList-Unsubscribe: <https://evil.test/u>\r\n'),
      signed.replace('Subject: Hello\r\n', 'Subject: Hello\r\nFrom: Mallory <m@evil.test>\r\n'),
      signed.replace('Hello Bob.', 'Hello Bob!'),
    ];
    for (const msg of tampered) expect((await verify(msg))[0]?.ok, msg.slice(-40)).toBe(false);
  });

  it('signs 8-bit headers and bodies byte for byte', async () => {
    const raw = Buffer.from(
      [
        'From: =?utf-8?q?J=C3=B6rg?= <jörg@example.com>',
        'To: Zoë <zoe@example.net>',
        'Subject: Grüße aus Köln – 日本語',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        'Schöne Grüße, ünïcödé ✓',
        'Zweite Zeile: ß€',
        '',
      ].join('\r\n'),
      'utf8',
    );
    const sigs = await signMessage(raw, [rsa, ed]);
    expect(sigs).toHaveLength(2);
    const results = await verify(prepend(sigs, raw));
    expect(results.every((r) => r.ok), JSON.stringify(results)).toBe(true);
  });

  it('handles long lines, runs of whitespace and trailing empty lines (relaxed body)', async () => {
    const long = Array.from({ length: 150 }, (_, i) => `word${i}`).join(' ').slice(0, 900);
    const raw = [
      'From: alice@example.com',
      'Subject: long',
      '',
      long,
      `${'x'.repeat(450)}\t \t${'y'.repeat(440)}   `,
      'tabs\there  and   spaces   ',
      '',
      '',
      '',
    ].join('\r\n');
    const sigs = await signMessage(Buffer.from(raw), [rsa, ed]);
    const results = await verify(prepend(sigs, raw));
    expect(results.every((r) => r.ok), JSON.stringify(results)).toBe(true);
  });

  it('handles folded headers, and the signature survives refolding (relaxed header)', async () => {
    const raw = [
      'From: "Alice, the Sender" <alice@example.com>',
      'To: bob@example.net,',
      '\tcarol@example.net,',
      '  dave@example.net',
      'Subject: a subject that is folded',
      ' over several',
      '\t lines',
      'Content-Type: multipart/alternative;',
      ' boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain',
      '',
      'text',
      '--b1--',
      '',
    ].join('\r\n');
    const sigs = await signMessage(Buffer.from(raw), [rsa]);
    const signed = prepend(sigs, raw).toString();
    expect((await verify(signed))[0]?.ok).toBe(true);
    const refolded = signed.replace('Subject: a subject that is folded\r\n over several', 'Subject: a subject that is folded over\r\n   several');
    expect(refolded).not.toBe(signed);
    expect((await verify(refolded))[0]?.ok).toBe(true);
  });

  it('adds its signature to a message that already carries one, leaving both valid', async () => {
    const upstream = prepend(await signMessage(Buffer.from(simple.replace('alice@example.com', 'alice@upstream.test')), [other]), simple.replace('alice@example.com', 'alice@upstream.test'));
    // A relay re-signing for the same From domain it has a key for:
    const keyForUpstream = { ...rsa, domain: 'upstream.test' };
    records['rsa1._domainkey.upstream.test'] = records['rsa1._domainkey.example.com'] ?? '';
    const ours = await signMessage(upstream, [keyForUpstream]);
    expect(ours).toHaveLength(1);
    const results = await verify(prepend(ours, upstream));
    expect(results.map((r) => [r.d, r.s, r.ok])).toEqual([
      ['upstream.test', 'rsa1', true],
      ['upstream.test', 'up1', true],
    ]);
  });

  it('signs subdomains with the parent key only when sub_domains is set', async () => {
    const fromSub = simple.replace('alice@example.com', 'alice@news.mail.parent.test');
    const sigs = await signMessage(Buffer.from(fromSub), [rsaSub, rsa]);
    expect(sigs).toHaveLength(1);
    expect((await verify(prepend(sigs, fromSub)))[0]).toMatchObject({ ok: true, d: 'parent.test', s: 'sub1' });
    // example.com has sub_domains = false: its subdomains and look-alikes go unsigned.
    expect(await signMessage(Buffer.from(simple.replace('alice@example.com', 'alice@mail.example.com')), [rsa, ed])).toEqual([]);
    expect(await signMessage(Buffer.from(simple.replace('alice@example.com', 'alice@badparent.test')), [rsaSub])).toEqual([]);
  });

  it('does not sign when no key covers the From domain, or From is missing or doubled', async () => {
    expect(await signMessage(Buffer.from(simple.replace('alice@example.com', 'alice@nokey.test')), [rsa, ed])).toEqual([]);
    expect(await signMessage(Buffer.from(simple.replace(/^From: .*\r\n/m, '')), [rsa])).toEqual([]);
    expect(await signMessage(Buffer.from(`From: x@evil.test\r\n${simple}`), [rsa])).toEqual([]);
    expect(await signMessage(Buffer.from(simple), [])).toEqual([]);
  });

  it('treats bare LF line ends as CRLF', async () => {
    const lf = simple.replace(/\r\n/g, '\n');
    const sigs = await signMessage(Buffer.from(lf), [rsa]);
    expect((await verify(prepend(sigs, simple)))[0]?.ok).toBe(true);
  });
});

describe('fromDomain', () => {
  it.each([
    ['Alice <alice@Example.COM>', 'example.com'],
    ['"bob@evil.test" <bob@good.test>', 'good.test'],
    ['bob@good.test (Bob @ evil.test)', 'good.test'],
    ['(c) <bob@good.test.>', 'good.test'],
    ['Jörg <j@bücher.example>', 'xn--bcher-kva.example'],
    ['undisclosed-recipients:;', null],
    ['', null],
  ])('%s → %s', (value, expected) => {
    expect(fromDomain(value)).toBe(expected);
  });
});

const log: PluginLogger = { debug() {}, info() {}, warn() {}, error() {} };

function dataCtx(raw: string, config: DkimConfig): { ctx: DataCtx<DkimConfig>; headers: HeaderBlock; body: Buffer } {
  // The host's own header block, as the ingress builds it.
  const { headers, body } = HeaderBlock.split(Buffer.from(raw, 'latin1'));
  const verdict = (v: Verdict): Verdict => v;
  const ctx: DataCtx<DkimConfig> = {
    connection: { id: 'c1', remoteAddress: '127.0.0.1', remotePort: 1, helo: 'app', authUser: null, tls: false, mode: 'relay', listener: 'relay' },
    log,
    config,
    transaction: { mailFrom: 'alice@example.com', rcpts: ['bob@example.net'], class: 'transactional', pool: null, priority: null, campaign: null },
    message: { headers, body, size: raw.length },
    next: () => verdict({ kind: 'next' }),
    accept: () => verdict({ kind: 'accept' }),
    reject: (code, enhanced, text) => verdict({ kind: 'reject', code, enhanced, text }),
    defer: (code, enhanced, text) => verdict({ kind: 'defer', code, enhanced, text }),
    drop: (reason) => verdict({ kind: 'drop', reason }),
  };
  return { ctx, headers, body };
}

describe('dkim plugin data hook', () => {
  async function setUp(): Promise<{ plugin: ReturnType<typeof createDkimPlugin>; config: DkimConfig }> {
    const plugin = createDkimPlugin();
    const table = {
      keys: [
        { domain: 'example.com', selector: 'rsa1', key: 'example.com.rsa1.pem' },
        { domain: 'example.com', selector: 'ed1', key: 'example.com.ed1.pem' },
        { domain: 'parent.test', selector: 'sub1', key: 'parent.test.sub1.pem', sub_domains: true },
      ],
    };
    const setupCtx: SetupCtx = { config: table, configFile: join(dir, 'sluice.toml'), baseDir: dir, log, state: {} as SetupCtx['state'], metrics: new Registry() };
    const config = (await plugin.setup?.(setupCtx)) ?? undefined;
    if (config === undefined) throw new Error('setup returned nothing');
    return { plugin, config };
  }

  it('signs the final header block, after earlier plugins edited it', async () => {
    const { plugin, config } = await setUp();
    const { ctx, headers, body } = dataCtx(simple, config);
    // An earlier plugin's edit must be covered by the signature.
    headers.set('Subject', 'Hello, edited by an earlier plugin');
    headers.add('X-Sluice-Class', 'transactional');
    const verdict = await plugin.hooks.data?.(ctx);
    expect(verdict).toEqual({ kind: 'next' });
    expect(headers.getAll('DKIM-Signature')).toHaveLength(2);
    const spooled = headers.assemble(body);
    expect(spooled.toString().startsWith('DKIM-Signature: ')).toBe(true);
    const results = await verify(spooled);
    expect(results.map((r) => [r.s, r.ok])).toEqual([
      ['ed1', true],
      ['rsa1', true],
    ]);
  });

  it('leaves mail from other domains alone', async () => {
    const { plugin, config } = await setUp();
    const { ctx, headers } = dataCtx(simple.replace('alice@example.com', 'alice@elsewhere.test'), config);
    expect(await plugin.hooks.data?.(ctx)).toEqual({ kind: 'next' });
    expect(headers.getAll('DKIM-Signature')).toEqual([]);
  });

  it('signs a subdomain with the parent key', async () => {
    const { plugin, config } = await setUp();
    const { ctx, headers, body } = dataCtx(simple.replace('alice@example.com', 'alice@bounces.parent.test'), config);
    await plugin.hooks.data?.(ctx);
    const results = await verify(headers.assemble(body));
    expect(results).toMatchObject([{ ok: true, d: 'parent.test', s: 'sub1' }]);
  });
});
