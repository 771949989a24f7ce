/**
 * Reading a queued message's envelope back (a deferred message coming due) reads and
 * checks the record's envelope only: damage in the body does not stop it (the body's own
 * read still refuses it), damage in the envelope does. And the journal read again from
 * where an earlier read stopped gives what a read of the whole file gives.
 */
import { readFileSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import { SegmentJournal, doneStates, deferralsOf, removedFrom } from '../../gateway/spool/segment-journal.js';
import { SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES } from '../../gateway/spool/segment-format.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll, spoolEnvelope, tempRoots } from '../support/spool.js';

const tempRoot = tempRoots('sluice-seg-envelope-');

const envelope = (id: string): Envelope => spoolEnvelope(id);

function flipByte(file: string, at: number): void {
  const buf = readFileSync(file);
  buf.writeUInt8(buf.readUInt8(at) ^ 0x10, at);
  writeFileSync(file, buf);
}

test('an envelope is read and checked without its body; a damaged envelope is still refused', async () => {
  const root = tempRoot();
  const spool = await SegmentSpool.open(root, { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  await spool.commit(envelope('E1'), Buffer.alloc(4_000, 'b'));
  await spool.commit(envelope('E2'), Buffer.alloc(4_000, 'c'));
  spool.forget('E1');
  spool.forget('E2');
  const file = join(root, 'seg', readdirSync(join(root, 'seg')).find((f) => f.endsWith('.seg')) as string);
  const metaLength = Buffer.byteLength(JSON.stringify(envelope('E1')));
  const first = SEGMENT_HEADER_BYTES;
  const second = first + RECORD_HEADER_BYTES + metaLength + 4_000;

  flipByte(file, first + RECORD_HEADER_BYTES + metaLength + 1_000); // inside E1's body
  expect((await spool.readEnvelope('E1')).rcpts).toEqual(['e1@example.net']);
  await expect(spool.readBody('E1')).rejects.toMatchObject({ code: 'SPOOL_CORRUPT' });

  flipByte(file, second + RECORD_HEADER_BYTES + 10); // inside E2's envelope
  await expect(spool.readEnvelope('E2')).rejects.toMatchObject({ code: 'SPOOL_CORRUPT', message: expect.stringContaining('checksum mismatch') });
  await spool.close();
});

test('a journal read from where an earlier read stopped adds up to a read of the whole file', async () => {
  const root = tempRoot();
  const path = join(root, 'journal.log');
  const journal = await SegmentJournal.open(path, () => undefined);
  journal.append({ id: 'A', r: 'a@x.test', a: 1, n: 1_800_000_000_000 });
  journal.append({ id: 'B', r: 'b@x.test', s: 'delivered' });
  await journal.flush();
  appendFileSync(path, '{"id":"A","r":"a@x.test","a":'); // a torn append: not covered by the first read
  const first = await journal.read();
  expect(first.bytes).toBe(readFileSync(path).length - '{"id":"A","r":"a@x.test","a":'.length);

  // The torn line is completed into garbage by the next append, as after a crash.
  journal.append({ id: 'A', r: 'a@x.test', a: 2, n: 1_800_000_060_000 });
  journal.append({ id: 'A', r: 'c@x.test', s: 'bounced' });
  journal.append({ id: 'B', done: true, seg: 3 });
  await journal.flush();
  const garbage: number[] = [];
  const tail = await journal.read((g) => garbage.push(g.offset), first);
  const whole = await journal.read();
  expect(garbage).toEqual([first.bytes]);
  expect(tail.bytes).toBe(whole.bytes);
  for (const id of ['A', 'B']) {
    const t = tail.facts.get(id);
    const w = whole.facts.get(id);
    expect([doneStates(t), deferralsOf(t), removedFrom(t)]).toEqual([doneStates(w), deferralsOf(w), removedFrom(w)]);
  }
  expect(doneStates(whole.facts.get('A'))).toEqual(new Map([['c@x.test', 'bounced']]));
  expect(deferralsOf(whole.facts.get('A'))?.size).toBe(1);
  expect(removedFrom(whole.facts.get('B'))).toEqual([3]);
  await journal.close();
});
