// Disk full, on a tmpfs of its own (needs root: mount -t tmpfs): at run time the node
// answers 452 4.3.1 before min_free_disk is crossed and at once when a write hits ENOSPC
// (never 451 4.3.0); at start with zero free bytes and a torn tail it starts, refuses
// with 452 4.3.1, delivers what is queued, and accepts again once space is back.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, statfsSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { tempDir, type CliNode } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp } from '../support/smtp-client.js';
import { deliveries, events, figures, kill9, newStats, nodeConfig, sendAll, sleep, startNode } from './support/chaos.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MB = 1024 * 1024;
const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** Fills the filesystem of `dir` to its last byte. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd stops with ENOSPC: that is the point
  }
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}2`, 'bs=512'], { stdio: 'ignore' });
  } catch {
    // the last blocks
  }
  return file;
}

async function mailFrom(port: number): Promise<string> {
  const c = await RawSmtp.open(port);
  await c.read();
  await c.cmd('EHLO app.chaos.test');
  const r = await c.cmd('MAIL FROM:<app@chaos.example.com>');
  c.close();
  return `${r?.code} ${r?.text.split(' ')[0]}`;
}

test('disk full at run time and at start', async () => {
  const dir = tempDir('sluice-chaos-disk-');
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
  cleanups.push(() => execFileSync('umount', ['-l', mnt]));
  const mxPort = await freePort('127.0.0.42');
  const port = await freePort();
  const minFree = 4 * MB;
  const toml = (min: string) => nodeConfig(`${mnt}/data`, port, `127.0.0.42:${mxPort}`, `min_free_disk = "${min}"`);
  let node: CliNode = startNode(dir, toml('4MB'));
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started', 60_000);

  // 1. Run time, MX down: 256 kB messages until the node refuses. No reply but 250 and 452 4.3.1.
  const big = (id: number) => `From: <app@chaos.example.com>\r\nSubject: big ${id}\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(3_300);
  let refusedAt = -1;
  let freeAtRefusal = -1;
  const stats0 = newStats();
  const stats = await sendAll(port, Array.from({ length: 200 }, (_, i) => i), {
    concurrency: 2,
    body: big,
    stop: () => {
      if (refusedAt < 0 && stats0.refusals.size > 0) {
        refusedAt = stats0.acked.size;
        freeAtRefusal = free(mnt);
      }
      return refusedAt >= 0;
    },
    stats: stats0,
  });
  const refusals1 = Object.fromEntries(stats.refusals);
  expect(Object.keys(refusals1)).toEqual(['452 4.3.1']);
  expect(freeAtRefusal).toBeGreaterThanOrEqual(minFree - 256 * 1024);

  // 2. Something else fills the disk between two checks: the next write hits ENOSPC.
  await kill9(node);
  node = startNode(dir, toml('64KB'));
  await node.waitFor('started', 60_000);
  const filler = fill(mnt);
  const r2stats = newStats();
  const r2 = await sendAll(port, [1000], { concurrency: 1, body: big, stop: () => r2stats.refusals.size > 0, stats: r2stats });
  const enospcReply = Object.keys(Object.fromEntries(r2.refusals))[0] ?? 'none';
  const afterEnospc = await mailFrom(port);
  expect(enospcReply).toBe('452 4.3.1');
  expect(afterEnospc).toBe('452 4.3.1');
  const acked = new Set([...stats.acked, ...r2.acked]);

  // 3. Start with zero free bytes and a torn tail: it starts, refuses, delivers.
  await kill9(node);
  const segDir = join(mnt, 'data/spool/seg');
  const newest = readdirSync(segDir).filter((f) => f.endsWith('.seg')).sort().pop() as string;
  try {
    appendFileSync(join(segDir, newest), randomBytes(3_000));
  } catch {
    // no room even for that: the tail is what the kill left
  }
  fill(mnt);
  const freeAtStart = free(mnt);
  const t0 = Date.now();
  node = startNode(dir, toml('64KB'));
  await node.waitFor('started', 60_000);
  const startMs = Date.now() - t0;
  const refusedAtStart = await mailFrom(port);
  expect(refusedAtStart).toBe('452 4.3.1');
  const mx = await startTestMx({ host: '127.0.0.42', port: mxPort });
  cleanups.push(() => mx.close());
  await mx.waitUntil(() => deliveries(mx).unique.size >= acked.size, 120_000);
  const d = deliveries(mx);
  const lost = [...acked].filter((id) => !d.unique.has(id));
  expect(lost).toEqual([]);
  unlinkSync(filler);
  unlinkSync(`${filler}2`);
  let acceptsAgainMs = -1;
  const t1 = Date.now();
  for (let i = 0; i < 100 && acceptsAgainMs < 0; i++) {
    if ((await mailFrom(port)) === '250 2.1.0') acceptsAgainMs = Date.now() - t1;
    else await sleep(200);
  }
  expect(acceptsAgainMs).toBeGreaterThanOrEqual(0);
  figures('disk-full', {
    min_free_disk_bytes: minFree,
    accepted_before_refusal: refusedAt,
    free_bytes_at_first_refusal: freeAtRefusal,
    replies_near_full: refusals1,
    reply_to_write_hitting_enospc: enospcReply,
    mail_from_after_enospc: afterEnospc,
    free_bytes_at_start: freeAtStart,
    start_ms_on_full_disk: startMs,
    mail_from_at_start: refusedAtStart,
    acknowledged: acked.size,
    delivered_after_full_start: d.unique.size,
    lost: lost.length,
    quarantine_lines: events(node, 'spool_quarantined').map((e) => e['reason']),
    accepts_again_after_space_back_ms: acceptsAgainMs,
  });
  node.child.kill('SIGTERM');
  await node.exited();
});
