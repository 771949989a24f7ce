/**
 * `sluice suppress add|remove|check|list|import|export --config FILE`, run as a child
 * process like an operator would: before the node's first start, and while it runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, MX_HOST, removeDir, sluice, startNodeFrom, tempDir, wire, writeConfig, type RunningNode } from '../plugin-host/harness.js';

let mx: TestMx;
const dir = tempDir();
let config = '';
let gw: RunningNode | null = null;

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  config = writeConfig(dir, { plugins: ['suppression'], mx: mx.address });
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

const suppress = (...args: string[]) => sluice(['suppress', ...args, '--config', config]);

async function rcptReply(rcpt: string): Promise<string> {
  if (gw === null) throw new Error('no node');
  const c = await client(gw.port);
  await c.cmd('MAIL FROM:<app@app.test>');
  const r = wire(await c.cmd(`RCPT TO:<${rcpt}>`));
  c.close();
  return r;
}

describe('sluice suppress before the first start', () => {
  it('add, check, list, remove', async () => {
    expect((await suppress('add', 'One@Example.net', '@blocked.test')).stdout).toBe('added 2 (0 already listed)\n');
    expect((await suppress('add', 'one@example.net', '--reason', 'unsubscribe')).stdout).toBe('added 0 (1 already listed)\n');

    const check = await suppress('check', 'one@example.net', 'x@blocked.test');
    expect(check.code).toBe(0);
    const lines = check.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(lines.map((l) => l.slice(0, 5))).toEqual([
      ['one@example.net', 'suppressed', 'one@example.net', 'unsubscribe', 'cli'],
      ['x@blocked.test', 'suppressed', '@blocked.test', 'manual', 'cli'],
    ]);
    const missing = await suppress('check', 'two@example.net');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('two@example.net\tnot suppressed\n');

    const list = await suppress('list');
    expect(list.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 3)).sort()).toEqual([
      ['@blocked.test', 'manual', 'cli'],
      ['one@example.net', 'unsubscribe', 'cli'],
    ]);

    expect((await suppress('add', 'temp@example.net')).code).toBe(0);
    expect((await suppress('remove', 'temp@example.net')).stdout).toBe('removed 1\n');
    expect((await suppress('check', 'temp@example.net')).code).toBe(1);
  });

  it('import and export', async () => {
    const file = join(dir, 'import.csv');
    writeFileSync(file, ['# from the old ESP', 'address,reason,source', 'three@example.net,complaint,esp-export', 'four@example.net', ''].join('\n'));
    expect((await suppress('import', file, '--reason', 'unsubscribe')).stdout).toBe('imported 2 (2 new)\n');
    const out = join(dir, 'export.csv');
    expect((await suppress('export', out)).code).toBe(0);
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('address,reason,source,time');
    expect(rows.slice(1).map((r) => r.split(',').slice(0, 3)).sort()).toEqual([
      // A cell starting with @ is a formula to a spreadsheet: quoted and guarded (OWASP CSV injection).
      ['"\'@blocked.test"', 'manual', 'cli'],
      ['four@example.net', 'unsubscribe', `import ${file}`],
      ['one@example.net', 'unsubscribe', 'cli'],
      ['three@example.net', 'complaint', 'esp-export'],
    ]);
  });

  it('rejects bad input with a usage error', async () => {
    const r = await suppress('add', 'not-an-address');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"not-an-address" is not an address');
  });

  it('the node refuses what the CLI listed', async () => {
    gw = await startNodeFrom(config, dir);
    expect(await rcptReply('one@example.net')).toBe('550 5.7.1 Recipient suppressed: unsubscribe');
    expect(await rcptReply('three@example.net')).toBe('550 5.7.1 Recipient suppressed: complaint');
    expect(await rcptReply('anyone@blocked.test')).toBe('550 5.7.1 Recipient suppressed: manual');
    expect(await rcptReply('temp@example.net')).toMatch(/^250 /);
  });
});

describe('sluice suppress while the node runs (embedded state)', () => {
  it('reads what the node wrote', async () => {
    const list = await suppress('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('one@example.net\tunsubscribe');
  });

  // The CLI is a client of the node's embedded list: it leaves changes in the inbox
  // and the node applies them within a second, no restart.
  it('a CLI add is refused by the running node without a restart', async () => {
    expect((await suppress('add', 'late@example.net', '--reason', 'unsubscribe')).stdout).toBe('added 1 (0 already listed)\n');
    await expect.poll(() => rcptReply('late@example.net'), { timeout: 2_000 }).toBe('550 5.7.1 Recipient suppressed: unsubscribe');
  });

  it('a CLI remove is honoured by the running node without a restart', async () => {
    expect((await suppress('remove', 'one@example.net')).stdout).toBe('removed 1\n');
    await expect.poll(() => rcptReply('one@example.net'), { timeout: 2_000 }).toMatch(/^250 /);
  });

  it('after a restart the node sees the CLI changes made while it ran', async () => {
    await gw?.stop();
    gw = await startNodeFrom(config, dir);
    expect(await rcptReply('late@example.net')).toBe('550 5.7.1 Recipient suppressed: unsubscribe');
    expect(await rcptReply('one@example.net')).toMatch(/^250 /);
  });
});
