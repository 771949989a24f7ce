/**
 * The replica store on a real disk: copies kept for peers survive a restart (reopen), drops
 * and a second copy of the same message leave one or none, copies an earlier version kept
 * one file each are moved in, and the batch frame peers send them in parses only whole.
 */
import { mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplicaStore } from '../../gateway/cluster/replica-store.js';
import type { ReplicaFacts } from '../../gateway/cluster/replica-sink.js';
import { batchReplyText, decodeBatch, encodeBatch, parseBatchReply } from '../../gateway/cluster/peer-batch.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import { tempDir } from '../support/gateway.js';

const openStore = async (root: string, opts = {}) => ReplicaStore.open(await SegmentSpool.open(root, { cacheBytes: 0 }), opts);

function facts(origin: string, queueId: string, receivedAt = Date.now()): ReplicaFacts {
  return {
    origin,
    queueId,
    envelope: { id: queueId, mailFrom: 'app@sender.test', rcpts: [`${queueId.toLowerCase()}@example.test`], receivedAt, class: 'transactional', pool: null, priority: null, campaign: 'c1', messageId: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {}, isDsn: false },
    attempts: { [`${queueId.toLowerCase()}@example.test`]: 1 },
    done: [],
  };
}

describe('replica store', () => {
  it('keeps copies across a restart, drops them, and keeps the first copy of a message sent twice', async () => {
    const dir = tempDir('sluice-replicas-');
    const store = await openStore(join(dir, 'replica-log'));
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.keep(facts(i % 2 ? 'n1' : 'n3', `Q${i}`), Buffer.from(`body ${i}\r\n`))));
    await store.keep(facts('n1', 'Q1'), Buffer.from('body 1\r\n'));
    await store.drop('n3', ['Q0', 'Q2', 'missing']);
    await store.close();

    const again = await openStore(join(dir, 'replica-log'));
    expect(again.count).toBe(48);
    expect(again.origins().sort()).toEqual(['n1', 'n3']);
    expect(again.has('n3', 'Q0')).toBe(false);
    expect(again.ids('n1')).toHaveLength(25);
    const q1 = await again.read('n1', 'Q1');
    expect(q1.body.toString()).toBe('body 1\r\n');
    expect(q1.facts.envelope.rcpts).toEqual(['q1@example.test']);
    expect(q1.facts.attempts).toEqual({ 'q1@example.test': 1 });
    expect(await again.drop('n1', again.ids('n1'))).toBe(25);
    await again.close();

    const third = await openStore(join(dir, 'replica-log'));
    expect(third.count).toBe(23);
    expect(third.origins()).toEqual(['n3']);
    await third.close();
  });

  it('lists copies older than a time (past max_age) by origin', async () => {
    const dir = tempDir('sluice-replicas-');
    const store = await openStore(join(dir, 'replica-log'));
    await store.keep(facts('n1', 'OLD', 1_000), Buffer.from('old\r\n'));
    await store.keep(facts('n1', 'NEW', 5_000), Buffer.from('new\r\n'));
    expect(store.olderThan('n1', 2_000)).toEqual(['OLD']);
    await store.close();
  });

  it('refuses an origin or queue id that is not a plain name', async () => {
    const store = await openStore(join(tempDir('sluice-replicas-'), 'replica-log'));
    await expect(store.keep(facts('../n1', 'Q1'), Buffer.from('x'))).rejects.toThrow(/unusable origin or queue id/);
    await store.close();
  });

  it('moves in copies an earlier version kept one file each, and drops torn ones', async () => {
    const dir = tempDir('sluice-replicas-');
    const legacy = join(dir, 'replicas');
    mkdirSync(join(legacy, 'n2'), { recursive: true });
    const f = facts('n2', 'LEGACY1');
    const json = Buffer.from(JSON.stringify(f));
    const bodyBytes = Buffer.from('legacy body\r\n');
    const head = Buffer.alloc(16);
    Buffer.from('SLR1').copy(head, 0);
    head.writeUInt32BE(json.length, 4);
    head.writeBigUInt64BE(BigInt(bodyBytes.length), 8);
    writeFileSync(join(legacy, 'n2', 'LEGACY1.rep'), Buffer.concat([head, json, bodyBytes]));
    // Torn: cut in the middle of its body.
    writeFileSync(join(legacy, 'n2', 'LEGACY2.rep'), Buffer.concat([head, json, bodyBytes]).subarray(0, 30));
    const store = await openStore(join(dir, 'replica-log'), { legacyRoot: legacy });
    expect(store.ids('n2')).toEqual(['LEGACY1']);
    expect((await store.read('n2', 'LEGACY1')).body.toString()).toBe('legacy body\r\n');
    expect(existsSync(legacy)).toBe(false);
    await store.close();
    const again = await openStore(join(dir, 'replica-log'), { legacyRoot: legacy });
    expect(again.ids('n2')).toEqual(['LEGACY1']);
    expect(readdirSync(dir).sort()).toEqual(['replica-log']);
    await again.close();
  });
});

describe('peer batch frame', () => {
  const items = [Buffer.from('X-Sluice-Peer: a\r\n\r\none\r\n'), Buffer.from(''), Buffer.from('X-Sluice-Peer: b\r\n\r\nthree\r\n.\r\n')];

  it('decodes what it encodes, byte for byte', () => {
    expect(decodeBatch(encodeBatch(items)).map((b) => b.toString())).toEqual(items.map((b) => b.toString()));
  });

  it('refuses a frame that is cut, padded, or says the wrong count', () => {
    const frame = encodeBatch(items);
    expect(() => decodeBatch(frame.subarray(0, frame.length - 3))).toThrow(/shorter than its length/);
    expect(() => decodeBatch(Buffer.concat([frame, Buffer.from('x')]))).toThrow(/1 bytes after the last of 3/);
    expect(() => decodeBatch(Buffer.from(frame.toString('latin1').replace(': 1 3', ': 1 4'), 'latin1'))).toThrow(/item 4: no length line/);
    expect(() => decodeBatch(Buffer.from(frame.toString('latin1').replace(': 1 3', ': 1 65'), 'latin1'))).toThrow(/1 to 64 items/);
    expect(() => decodeBatch(Buffer.from('X-Sluice-Peer-Batch: 2 1\r\n\r\n0\r\n\r\n'))).toThrow(/malformed/);
  });

  it('says per item what the peer took', () => {
    expect(batchReplyText([true, false, true])).toBe('Ok: batch of 3: +-+');
    expect(parseBatchReply('250 2.0.0 Ok: batch of 3: +-+', 3)).toEqual([true, false, true]);
    expect(parseBatchReply('250 2.0.0 Ok: batch of 3: +-+', 4)).toBeNull();
    expect(parseBatchReply('250 2.0.0 Ok: queued as X', 1)).toBeNull();
  });
});
