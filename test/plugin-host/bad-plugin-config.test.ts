/**
 * A plugin table that its schema refuses stops the node at start-up, and the error
 * names the config file and the key; `sluice check-config` reports the same.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_PLUGIN, nodeToml, removeDir, startNode, tempDir } from './harness.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

function fresh(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

async function startError(plugins: string[], extra: string): Promise<{ message: string; file: string }> {
  const dir = fresh();
  const file = join(dir, 'sluice.toml');
  const err = await startNode({ plugins, mx: '127.0.0.20:25', extra }, dir).then(
    async (gw) => {
      await gw.stop();
      return null;
    },
    (e: unknown) => e as Error,
  );
  expect(err, 'the node started with a bad plugin table').not.toBeNull();
  return { message: err?.message ?? '', file };
}

describe('a bad plugin config table', () => {
  it('a built-in: an unknown key in [classify] names the file, the table and the key', async () => {
    const { message, file } = await startError(['classify'], '[classify]\ndefualt = "promotional"\n');
    expect(message).toContain(file);
    expect(message).toMatch(/classify: unknown key "defualt" \(known keys: default, trust_header, rules\)/);
  });

  it('a built-in: a bad value names the full key path', async () => {
    const { message, file } = await startError(['classify'], '[[classify.rules]]\nclient_network = ["10.0.0.0/33"]\nclass = "promotional"\n');
    expect(message).toContain(`${file} classify.rules[0].client_network[0]:`);
    expect(message).toContain('"10.0.0.0/33" is not an IPv4 or IPv6 network');
  });

  it('a built-in: [suppression] action must be reject or drop', async () => {
    const { message, file } = await startError(['suppression'], '[suppression]\naction = "bounce"\n');
    expect(message).toContain(`${file} suppression.action:`);
  });

  it('a user plugin from a path: its own schema, its own table name', async () => {
    const { message, file } = await startError([EXAMPLE_PLUGIN], '[subject-filter]\nreject = ["(unclosed"]\n');
    expect(message).toContain(`${file} subject-filter.reject[0]: not a regular expression`);
  });

  it('sluice check-config lists the same problem and exits 1', async () => {
    const dir = fresh();
    const file = join(dir, 'sluice.toml');
    writeFileSync(file, nodeToml(dir, { plugins: ['suppression', 'classify'], mx: '127.0.0.20:25', extra: '[suppression]\nchek_domain = false\n' }));
    const result = await run(process.execPath, [CLI, 'check-config', '--config', file]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('suppression: unknown key "chek_domain" (known keys: action, check_domain)');
  });
});
