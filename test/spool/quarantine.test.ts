// A torn or corrupt spool entry is moved to quarantine and logged at start; the rest of the
// queue starts normally and is delivered.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { DiskSpool } from '../../gateway/spool/disk-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function envelope(id: string, rcpt: string): Envelope {
  return { id, mailFrom: 'app@example.com', rcpts: [rcpt], receivedAt: Date.now(), class: 'transactional', pool: null, priority: null, campaign: null, messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false };
}

test('corrupt and torn entries go to quarantine; good ones are delivered', async () => {
  const dir = tempDir();
  const spool = await DiskSpool.open(join(dir, 'data/spool'));
  const body = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  await spool.commit(envelope('GOOD1', 'good1@example.net'), body);
  await spool.commit(envelope('GOOD2', 'good2@example.net'), body);
  await spool.commit(envelope('FLIPPED', 'flipped@example.net'), body);
  await spool.commit(envelope('TORN', 'torn@example.net'), body);
  const msgDir = join(dir, 'data/spool/msg');
  const flipped = readFileSync(join(msgDir, 'FLIPPED.msg'));
  flipped[flipped.length - 3] ^= 0x20;
  writeFileSync(join(msgDir, 'FLIPPED.msg'), flipped);
  const torn = readFileSync(join(msgDir, 'TORN.msg'));
  writeFileSync(join(msgDir, 'TORN.msg'), torn.subarray(0, torn.length - 5));
  await spool.close();

  const mxPort = await freePort('127.0.0.28');
  const mx = await startTestMx({ host: '127.0.0.28', port: mxPort });
  cleanups.push(() => mx.close());
  const file = join(dir, 'sluice.toml');
  writeFileSync(file, `[node]\ndata_dir = "${dir}/data"\n[dns.static]\n"*" = "127.0.0.28:${mxPort}"\n`);
  const node = startCli(file);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  await mx.waitFor(2);
  expect(new Set(mx.messages.flatMap((m) => m.rcpts))).toEqual(new Set(['good1@example.net', 'good2@example.net']));
  expect(readdirSync(join(dir, 'data/spool/quarantine')).sort()).toEqual(['FLIPPED.msg', 'TORN.msg']);
  expect(node.output()).toMatch(/"event":"spool_quarantined","file":"FLIPPED.msg","reason":"checksum mismatch","queue_id":"FLIPPED"/);
  expect(node.output()).toMatch(/"event":"spool_quarantined","file":"TORN.msg","reason":"length \d+ does not match/);
  node.child.kill('SIGTERM');
  await node.exited();
});
