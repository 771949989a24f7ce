// Issue 11: a message lost to spool damage is named in the log (queue id, sender,
// Message-ID) and its sender gets a DSN; the intact messages around it are delivered.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import { readRecord, recordBytes, SEGMENT_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function envelope(id: string, rcpt: string): Envelope {
  return { id, mailFrom: 'app@example.com', rcpts: [rcpt], receivedAt: Date.now(), class: 'transactional', pool: null, priority: null, campaign: null, messageId: `<${id.toLowerCase()}@app.example.com>`, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false };
}

test('a record whose body is damaged: logged with queue id and sender, DSN to the sender, the others delivered', async () => {
  const dir = tempDir();
  const root = join(dir, 'data/spool');
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  const body = (n: number) => Buffer.from(`Subject: m${n}\r\nMessage-ID: <m${n}>\r\n\r\n${'x'.repeat(2_000)}\r\n`);
  await spool.commit(envelope('KEEP1', 'keep1@example.net'), body(1));
  await spool.commit(envelope('LOST2', 'lost2@example.net'), body(2));
  await spool.commit(envelope('KEEP3', 'keep3@example.net'), body(3));
  await spool.close();
  const file = join(root, 'seg/00000001.seg');
  const buf = readFileSync(file);
  const key = buf.subarray(8, 40);
  const first = readRecord(buf, SEGMENT_HEADER_BYTES, key);
  if (typeof first === 'string') throw new Error(first);
  const second = SEGMENT_HEADER_BYTES + recordBytes(first.metaLength, first.bodyLength);
  buf[second + 1_000] ^= 0x01; // inside LOST2's body: its envelope still checks out
  writeFileSync(file, buf);

  const mxPort = await freePort('127.0.0.29');
  const mx = await startTestMx({ host: '127.0.0.29', port: mxPort });
  cleanups.push(() => mx.close());
  const config = join(dir, 'sluice.toml');
  writeFileSync(config, `[node]\ndata_dir = "${dir}/data"\nhostname = "gw.test"\n[dns.static]\n"*" = "127.0.0.29:${mxPort}"\n`);
  const node = startCli(config);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  await mx.waitFor(3);

  const delivered = mx.messages.filter((m) => m.mailFrom !== '').flatMap((m) => m.rcpts);
  expect(delivered.sort()).toEqual(['keep1@example.net', 'keep3@example.net']);
  const dsn = mx.messages.find((m) => m.mailFrom === '');
  expect(dsn?.rcpts).toEqual(['app@example.com']);
  const text = dsn?.raw.toString() ?? '';
  expect(text).toMatch(/Final-Recipient: rfc822; lost2@example\.net/);
  expect(text).toMatch(/Status: 5\.3\.0/);
  const out = node.output();
  expect(out).toMatch(/"event":"spool_quarantined".*"reason":"checksum mismatch".*"queue_ids":\["LOST2"\],"message_ids":\["<lost2@app\.example\.com>"\]/);
  expect(out).toMatch(/"event":"spool_record_lost","queue_id":"LOST2","sender":"app@example\.com","message_id":"<lost2@app\.example\.com>".*"dsn":true/);
  node.child.kill('SIGTERM');
  await node.exited();
});
