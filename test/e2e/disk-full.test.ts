// Issue 11: on a full disk a write answers 452 4.3.1 (RFC 3463 §3.4, not 451 4.3.0) and
// the node refuses from then on without waiting for its next free-space check; a node
// starts on a disk with zero free bytes and a torn segment tail, and refuses with 452 4.3.1.
// The disk is a tmpfs of its own: mounting one needs root (the test is skipped otherwise;
// `npm run chaos` has the longer version of both).
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startGateway, tempDir, type TestGateway } from '../support/gateway.js';
import { RawSmtp } from '../support/smtp-client.js';

const root = process.getuid?.() === 0;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function fill(dir: string): void {
  for (const [name, bs] of [['filler', '64k'], ['filler2', '512']]) {
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(dir, name as string)}`, `bs=${bs}`], { stdio: 'ignore' });
    } catch {
      // stops with ENOSPC, as meant
    }
  }
}

async function session(gw: TestGateway): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port());
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

test.skipIf(!root)('a write that hits ENOSPC answers 452 4.3.1, and so does the next MAIL FROM; a restart on the full disk works', async () => {
  const dir = tempDir();
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  cleanups.push(() => execFileSync('umount', ['-l', mnt]));
  const toml = `
[node]
data_dir = "${mnt}/data"
min_free_disk = "64KB"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[dns.static]
"*" = "127.0.0.31:9"
[delivery]
connect_timeout = "1s"
`;
  let gw = await startGateway(toml, dir);
  cleanups.push(() => gw.stop());
  let c = await session(gw);
  expect((await c.send('app@example.com', ['a@example.net'], 'Subject: first\r\n\r\nfits\r\n'))?.code).toBe(250);
  fill(mnt); // behind the node's back, between two of its free-space checks
  const big = `Subject: big\r\n\r\n${'x'.repeat(78)}\r\n`.repeat(4_000);
  const r = await c.send('app@example.com', ['b@example.net'], big);
  expect([r?.code, r?.text.split(' ')[0]]).toEqual([452, '4.3.1']);
  const m = await c.cmd('MAIL FROM:<app@example.com>');
  expect([m?.code, m?.text.split(' ')[0]]).toEqual([452, '4.3.1']);
  c.close();
  await gw.stop();

  // A torn tail as a crash leaves it, and not one free byte.
  const segDir = join(mnt, 'data/spool/seg');
  const newest = readdirSync(segDir).filter((f) => f.endsWith('.seg')).sort().pop() as string;
  try {
    appendFileSync(join(segDir, newest), randomBytes(2_000));
  } catch {
    // no room even for that
  }
  fill(mnt);
  expect(statfsSync(mnt).bavail).toBe(0);
  gw = await startGateway(toml, dir);
  c = await session(gw);
  const again = await c.cmd('MAIL FROM:<app@example.com>');
  expect([again?.code, again?.text.split(' ')[0]]).toEqual([452, '4.3.1']);
  c.close();
});
