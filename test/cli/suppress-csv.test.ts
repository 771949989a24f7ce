// `sluice suppress export` writes CSV a spreadsheet opens without running anything:
// cells starting with = + - @ get a leading quote (OWASP "CSV Injection") and are
// quoted properly; `import` reads the file back to the same list; a NUL or other
// control character in an address is refused with its line number, exit 2.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { CLI, tempDir } from '../support/gateway.js';

const run = promisify(execFile);

function node(): { dir: string; config: string } {
  const dir = tempDir();
  const config = join(dir, 'sluice.toml');
  writeFileSync(config, `[node]\ndata_dir = "${dir}/data"\n`);
  return { dir, config };
}

const HOSTILE = ['=hyperlink("http://evil.example/?x","click")@x.example', '+1+2@x.example', '-2+3@x.example', '@evil.example', 'plain@x.example'];

test('export guards formula cells, and import reads them back unchanged', async () => {
  const a = node();
  const list = join(a.dir, 'in.csv');
  writeFileSync(list, `${HOSTILE.map((h, i) => (i === 0 ? `"${h.replace(/"/g, '""')}",manual,=cmd|'/C calc'!A0` : `${h},complaint`)).join('\n')}\n`);
  await run(process.execPath, [CLI, 'suppress', 'import', list, '--config', a.config]);
  const out = join(a.dir, 'out.csv');
  await run(process.execPath, [CLI, 'suppress', 'export', out, '--config', a.config]);
  const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1);
  expect(rows).toHaveLength(HOSTILE.length);
  for (const row of rows) {
    // No cell may start with a formula character, quoted or not.
    for (const cell of row.match(/("([^"]|"")*"|[^,]*)(?=,|$)/g) ?? []) expect(cell.replace(/^"/, '')).not.toMatch(/^[=+\-@\t\r]/);
  }
  expect(rows.find((r) => r.includes('hyperlink'))).toMatch(/^"'=hyperlink\(""http:\/\/evil\.example\/\?x"",""click""\)@x\.example",manual,"'=cmd\|'\/C calc'!A0",/);
  expect(rows).toContainEqual(expect.stringMatching(/^"'@evil\.example",complaint,/));

  const b = node();
  await run(process.execPath, [CLI, 'suppress', 'import', out, '--config', b.config]);
  const again = join(b.dir, 'again.csv');
  await run(process.execPath, [CLI, 'suppress', 'export', again, '--config', b.config]);
  const strip = (t: string) => t.trim().split('\n').slice(1).map((r) => r.replace(/,[^,]*$/, '')).sort();
  expect(strip(readFileSync(again, 'utf8'))).toEqual(strip(readFileSync(out, 'utf8')));
});

test('a NUL in an imported address: exit 2, the line named, nothing imported', async () => {
  const a = node();
  const list = join(a.dir, 'nul.csv');
  writeFileSync(list, 'good@x.example\nbad\u0000@x.example\n');
  const err = await run(process.execPath, [CLI, 'suppress', 'import', list, '--config', a.config]).catch((e: { code: number; stderr: string }) => e);
  expect(err).toMatchObject({ code: 2 });
  expect((err as { stderr: string }).stderr).toMatch(/line 2: .*is not an address/);
  const { stdout } = await run(process.execPath, [CLI, 'suppress', 'list', '--config', a.config]);
  expect(stdout).toBe('');
});
