/**
 * The layer check (.dependency-cruiser.cjs) must fail on the imports DESIGN.md forbids:
 * each case writes a tiny tree laid out like gateway/ with one offending import, runs
 * depcruise with the project's own rules as `npm run lint` does, and reads which rule fired.
 * A rule that silently matched nothing (a path typo, a renamed folder) fails here.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

interface Run {
  readonly code: number;
  /** `rule: from -> to` for each violation depcruise printed (for a cycle, `to` is its next module). */
  readonly fired: string[];
}

/** Writes `files` (path → source) into a fresh tree and runs the project's layer check on it. */
async function check(files: Record<string, string>): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-layers-'));
  dirs.push(dir);
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0] ?? p))];
  return new Promise((done, fail) => {
    // The report `npm run lint` prints: "error <rule>: <from> → <to>", exit status non-zero.
    execFile(depcruise, [...roots, '--config', join(root, '.dependency-cruiser.cjs')], { cwd: dir }, (err, stdout, stderr) => {
      if (!/dependency violations|no dependency violations found/.test(stdout)) return fail(new Error(`depcruise gave no report: ${String(err)}\n${stdout}${stderr}`));
      const fired = [...stdout.matchAll(/error ([\w-]+): (\S+) →\s*(\S+)/g)].map((m) => `${m[1]}: ${m[2]} -> ${m[3]}`);
      done({ code: err ? Number(err.code ?? 1) : 0, fired });
    });
  });
}

const fired = (run: Run) => run.fired;

describe('layer check', () => {
  it('passes a tree that follows the flow (ingress → queue → routing → shaping → delivery, seams anywhere)', async () => {
    const run = await check({
      'gateway/ingress/listener.ts': "import { q } from '../queue/scheduler.js';\nimport type { Config } from '../config/schema.js';\nexport const l = (c: Config) => q(c);\n",
      'gateway/queue/scheduler.ts': "import { route } from '../routing/router.js';\nexport const q = (c: unknown) => route(c);\n",
      'gateway/routing/router.ts': "import { shape } from '../shaping/providers.js';\nexport const route = (c: unknown) => shape(c);\n",
      'gateway/shaping/providers.ts': "import { send } from '../delivery/session.js';\nexport const shape = (c: unknown) => send(c);\n",
      'gateway/delivery/session.ts': "import { SluiceError } from '../errors.js';\nexport const send = (c: unknown) => { if (!c) throw new SluiceError(); };\n",
      'gateway/errors.ts': 'export class SluiceError extends Error {}\n',
      'gateway/config/schema.ts': 'export interface Config { readonly a: number }\n',
    });
    expect(fired(run)).toEqual([]);
    expect(run.code).toBe(0);
  });

  it('fails when a later stage imports an earlier one (routing → ingress)', async () => {
    const run = await check({
      'gateway/routing/router.ts': "import { l } from '../ingress/listener.js';\nexport const r = l;\n",
      'gateway/ingress/listener.ts': 'export const l = 1;\n',
    });
    expect(fired(run)).toEqual(['flow-routing: gateway/routing/router.ts -> gateway/ingress/listener.ts']);
    expect(run.code).not.toBe(0);
  });

  it('counts a type-only import against the flow too (delivery → queue)', async () => {
    const run = await check({
      'gateway/delivery/session.ts': "import type { Q } from '../queue/ready-queue.js';\nexport const s = (q: Q) => q;\n",
      'gateway/queue/ready-queue.ts': 'export interface Q { readonly id: string }\n',
    });
    expect(fired(run)).toEqual(['flow-delivery: gateway/delivery/session.ts -> gateway/queue/ready-queue.ts']);
  });

  it('fails when a shared seam depends on a layer (config → ingress, as cross-check.ts once did)', async () => {
    const run = await check({
      'gateway/config/cross-check.ts': "import { parse } from '../ingress/networks.js';\nexport const c = parse;\n",
      'gateway/ingress/networks.ts': 'export const parse = (s: string) => s;\n',
    });
    expect(fired(run)).toEqual(['seams-import-only-seams: gateway/config/cross-check.ts -> gateway/ingress/networks.ts']);
  });

  it('fails on a cycle inside one folder', async () => {
    const run = await check({
      'gateway/shaping/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'gateway/shaping/b.ts': "import type { a } from './a.js';\nexport const b = 1 as unknown as typeof a;\n",
    });
    expect(fired(run)).toContain('no-circular: gateway/shaping/a.ts -> gateway/shaping/b.ts');
  });

  it('fails when a part takes the node instead of ports (the node-passing cycle), even as a type', async () => {
    const run = await check({
      'gateway/node.ts': "import { Control } from './observe/node-control.js';\nexport class SluiceNode { c = new Control(this); }\n",
      'gateway/observe/node-control.ts': "import type { SluiceNode } from '../node.js';\nexport class Control { constructor(readonly node: SluiceNode) {} }\n",
      'gateway/cli/start.ts': "import { SluiceNode } from '../node.js';\nexport const n = SluiceNode;\n",
    });
    expect(fired(run).sort()).toEqual([
      'no-circular: gateway/node.ts -> gateway/observe/node-control.ts',
      'node-stays-at-the-root: gateway/observe/node-control.ts -> gateway/node.ts',
    ]);
    expect(run.code).not.toBe(0);
  });

  it('holds the delivery agent to the flow too: it takes ports, not the queue or shaping (delivery/agent.ts → queue/scheduler.ts, → shaping/keys.ts)', async () => {
    const run = await check({
      'gateway/delivery/agent.ts': "import type { S } from '../queue/scheduler.js';\nimport { k } from '../shaping/keys.js';\nexport const c = (s: S) => [s, k];\n",
      'gateway/queue/scheduler.ts': 'export interface S { readonly id: string }\n',
      'gateway/shaping/keys.ts': 'export const k = 1;\n',
    });
    expect(fired(run).sort()).toEqual(['flow-delivery: gateway/delivery/agent.ts -> gateway/queue/scheduler.ts', 'flow-delivery: gateway/delivery/agent.ts -> gateway/shaping/keys.ts']);
  });

  it('fails when a built-in plugin reaches past the plugin API, or a backend is imported outside the root', async () => {
    const run = await check({
      'plugins/dkim/index.ts': "import { SluiceError } from '../../gateway/errors.js';\nexport const e = SluiceError;\n",
      'gateway/errors.ts': 'export class SluiceError extends Error {}\n',
      'gateway/shaping/rate-text.ts': "import { g } from '../state/embedded/gcra.js';\nexport const r = g;\n",
      'gateway/state/embedded/gcra.ts': 'export const g = 1;\n',
    });
    expect(fired(run).sort()).toEqual([
      'plugins-use-the-plugin-api: plugins/dkim/index.ts -> gateway/errors.ts',
      'state-backends: gateway/shaping/rate-text.ts -> gateway/state/embedded/gcra.ts',
    ]);
  });
});
