/**
 * One contract for both spools (DESIGN.md "Durability contract"): what a commit
 * acknowledged comes back after a restart with identical bytes, journal facts survive,
 * a removed message stays removed, and kill -9 at any moment loses nothing acknowledged.
 *
 * The kill test runs the spool in a child process: the spool's sources are transpiled
 * (typescript's transpileModule, no type check) into a temp dir, since Node 20 cannot
 * run .ts and dist/ may be stale.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskSpool } from '../../gateway/spool/disk-spool.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope, RecoveredMessage, Spool } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface SpoolCase {
  readonly name: 'disk' | 'segment';
  open(root: string): Promise<Spool>;
  /**
   * Lets record() calls land. DiskSpool's are fire-and-forget appendFile calls that
   * close() does not wait for and that may land out of order when issued in one tick, so
   * the suite spaces them out as a scheduler does (retries are minutes apart). The segment
   * spool keeps them in order and flushes them on close (segment-journal.test.ts).
   */
  settle(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cases: SpoolCase[] = [
  { name: 'disk', open: (root) => DiskSpool.open(root), settle: () => sleep(30) },
  { name: 'segment', open: (root) => SegmentSpool.open(root, { compactEveryMs: 0 }), settle: async () => undefined },
];

const dirs: string[] = [];
function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-spool-'));
  dirs.push(d);
  return join(d, 'spool');
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function envelope(id: string, rcpts: string[] = [`${id.toLowerCase()}@example.net`]): Envelope {
  return { id, mailFrom: 'app@example.com', rcpts, receivedAt: 1_780_000_000_000, class: 'transactional', pool: null, priority: null, campaign: 'c1', messageId: `<${id}@example.com>`, authUser: null, clientAddress: '127.0.0.1', routeHeaders: { 'x-tag': 'a' }, isDsn: false };
}

function body(size: number): Buffer {
  return Buffer.from(`Subject: test\r\n\r\n${randomBytes(Math.ceil(size * 0.75)).toString('base64')}\r\n`);
}

const noCorruption = (file: string, reason: string): void => {
  throw new Error(`unexpected corruption report: ${file}: ${reason}`);
};

function byId(list: RecoveredMessage[]): Map<string, RecoveredMessage> {
  return new Map(list.map((m) => [m.envelope.id, m]));
}

describe.each(cases)('$name spool', (c) => {
  it('commits, reads back, removes, and recovers after a reopen', async () => {
    const root = tempRoot();
    const spool = await c.open(root);
    expect(await recoverAll(spool, noCorruption)).toEqual([]);
    const bodies = new Map([
      ['A1', body(300)],
      ['A2', body(70_000)],
      ['A3', body(5_000)],
    ]);
    await Promise.all([...bodies].map(([id, b]) => spool.commit(envelope(id), b)));
    for (const [id, b] of bodies) expect((await spool.readBody(id)).equals(b)).toBe(true);
    await spool.remove('A2');
    expect(await spool.freeBytes()).toBeGreaterThan(0);
    await spool.close();

    const again = await c.open(root);
    const found = byId(await recoverAll(again, noCorruption));
    expect([...found.keys()].sort()).toEqual(['A1', 'A3']);
    expect(found.get('A1')?.envelope).toEqual(envelope('A1'));
    for (const id of ['A1', 'A3']) expect((await again.readBody(id)).equals(bodies.get(id) as Buffer)).toBe(true);
    await again.close();
  });

  it('keeps recipient states and attempt counts across a reopen', async () => {
    const root = tempRoot();
    const spool = await c.open(root);
    await recoverAll(spool, noCorruption);
    await spool.commit(envelope('B1', ['a@x.test', 'b@x.test', 'c@x.test']), body(1_000));
    spool.record('B1', 'a@x.test', 'delivered');
    spool.record('B1', 'b@x.test', { attempts: 1 });
    await c.settle();
    spool.record('B1', 'b@x.test', { attempts: 2 });
    spool.record('B1', 'c@x.test', 'bounced');
    await c.settle();
    await spool.close();

    for (let reopen = 0; reopen < 2; reopen++) {
      const again = await c.open(root);
      const [m] = await recoverAll(again, noCorruption);
      expect(m?.envelope.id).toBe('B1');
      expect(Object.fromEntries(m?.done ?? [])).toEqual({ 'a@x.test': 'delivered', 'c@x.test': 'bounced' });
      expect(Object.fromEntries(m?.attempts ?? [])).toEqual({ 'b@x.test': 2 });
      await again.close();
    }
  });

  it('keeps each deferred recipient\'s next attempt time across a reopen', async () => {
    const root = tempRoot();
    const spool = await c.open(root);
    await recoverAll(spool, noCorruption);
    await spool.commit(envelope('N1', ['a@x.test', 'b@x.test', 'c@x.test']), body(1_000));
    spool.record('N1', 'a@x.test', { attempts: 1, nextAt: 1_800_000_000_000 });
    spool.record('N1', 'b@x.test', { attempts: 1, nextAt: 1_800_000_000_000 });
    await c.settle();
    spool.record('N1', 'a@x.test', { attempts: 2, nextAt: 1_800_003_600_000 });
    // A record without a time (an older node wrote it) leaves the recipient due at once.
    spool.record('N1', 'b@x.test', { attempts: 2 });
    await c.settle();
    await spool.close();

    const again = await c.open(root);
    const [m] = await recoverAll(again, noCorruption);
    expect(Object.fromEntries(m?.attempts ?? [])).toEqual({ 'a@x.test': 2, 'b@x.test': 2 });
    expect(Object.fromEntries(m?.retryAt ?? [])).toEqual({ 'a@x.test': 1_800_003_600_000 });
    await again.close();
  });

  it('does not bring back a removed message, also after further restarts', async () => {
    const root = tempRoot();
    const spool = await c.open(root);
    await recoverAll(spool, noCorruption);
    for (const id of ['C1', 'C2', 'C3']) await spool.commit(envelope(id), body(2_000));
    spool.record('C2', 'c2@example.net', { attempts: 1 });
    await c.settle();
    await spool.remove('C2');
    await spool.close();

    for (let reopen = 0; reopen < 3; reopen++) {
      const again = await c.open(root);
      const ids = (await recoverAll(again, noCorruption)).map((m) => m.envelope.id).sort();
      expect(ids).toEqual(reopen === 0 ? ['C1', 'C3'] : ['C3']);
      if (reopen === 0) await again.remove('C1');
      await again.close();
    }
  });

  it('loses no acknowledged message when killed at a random moment', { timeout: 120_000 }, async () => {
    const root = tempRoot();
    const acked = new Map<string, { length: number; sha: string }>();
    for (let round = 0; round < 3; round++) {
      const lines = await runUntilKilled(c.name, root, `R${round}-`, 150 + Math.floor(Math.random() * 500));
      for (const line of lines) {
        const [id, length, sha] = line.split(' ');
        if (id && length && sha) acked.set(id, { length: Number(length), sha });
      }
    }
    expect(acked.size).toBeGreaterThan(30);

    const spool = await c.open(root);
    // A torn record at the moment of the kill is allowed (it was never acknowledged).
    const found = byId(await recoverAll(spool, () => undefined));
    const missing = [...acked.keys()].filter((id) => !found.has(id));
    expect(missing).toEqual([]);
    for (const [id, want] of acked) {
      const b = await spool.readBody(id);
      expect({ id, length: b.length, sha: sha256(b) }).toEqual({ id, ...want });
      expect(found.get(id)?.envelope).toEqual(envelope(id));
    }
    await spool.close();
    console.log(`${c.name}: ${acked.size} acknowledged commits over 3 kill -9 rounds, all recovered intact`);
  });
});

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

let childDir = '';
beforeAll(() => {
  childDir = buildChild();
  dirs.push(childDir);
});

/** Commits from 16 concurrent writers, one line per acknowledged commit, until SIGKILL. */
const CHILD = `
import { createHash, randomBytes } from 'node:crypto';
import { DiskSpool } from './gateway/spool/disk-spool.js';
import { SegmentSpool } from './gateway/spool/segment-spool.js';
const [kind, root, prefix] = process.argv.slice(2);
const spool = kind === 'disk' ? await DiskSpool.open(root) : await SegmentSpool.open(root);
await spool.recover(() => undefined, () => undefined);
process.stdout.write('ready\\n');
let n = 0;
const envelope = ${envelope.toString()};
async function writer() {
  for (;;) {
    const id = prefix + String(n++).padStart(6, '0');
    const size = 100 + Math.floor(Math.random() * 30000);
    const body = Buffer.from(randomBytes(size).toString('base64') + '\\r\\n');
    await spool.commit(envelope(id), body);
    // stdout to a pipe is synchronous on Linux: a printed id has reached the parent.
    process.stdout.write(id + ' ' + body.length + ' ' + createHash('sha256').update(body).digest('hex') + '\\n');
  }
}
for (let i = 0; i < 16; i++) void writer();
`;

function runUntilKilled(kind: string, root: string, prefix: string, afterMs: number): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(childDir, 'child.js'), kind, root, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      const first = !out.includes('ready\n');
      out += d.toString();
      if (first && out.includes('ready\n')) setTimeout(() => child.kill('SIGKILL'), afterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child exited with ${code}: ${err}`));
      const lines = out.split('\n');
      lines.pop(); // an unfinished last line
      resolvePromise(lines.filter((l) => l !== 'ready'));
    });
  });
}

/** Transpiles the spools and what they import into a temp dir, with the child script. */
function buildChild(): string {
  const out = mkdtempSync(join(tmpdir(), 'sluice-spool-child-'));
  const todo = ['gateway/spool/disk-spool.ts', 'gateway/spool/segment-spool.ts'];
  const done = new Set<string>();
  for (let rel = todo.pop(); rel !== undefined; rel = todo.pop()) {
    if (done.has(rel)) continue;
    done.add(rel);
    const src = readFileSync(join(ROOT, rel), 'utf8');
    for (const m of src.matchAll(/^import (?!type )[^;]*? from '(\.{1,2}\/[^']+)\.js';/gm)) todo.push(normalize(join(dirname(rel), `${m[1]}.ts`)));
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    mkdirSync(dirname(join(out, rel)), { recursive: true });
    writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  writeFileSync(join(out, 'child.js'), CHILD);
  return out;
}
