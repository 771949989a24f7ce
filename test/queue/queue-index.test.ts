// The queue index (issue 17): counts per group in every dimension; members kept only for
// domain, campaign and sender, so a selector on provider, pool, source or class walks the
// queue. Both paths must pick the same entries and page through them the same way.
import { expect, test } from 'vitest';
import { QueueIndex, type EntryInit } from '../../gateway/queue/index.js';

const T0 = 1_700_000_000_000;
function fill(): QueueIndex {
  const idx = new QueueIndex();
  for (let i = 0; i < 300; i++) {
    const init: EntryInit = { id: `Q${i}`, domain: `d${i % 3}.test`, sender: i % 2 ? 'a@s.test' : 'b@s.test', campaign: i % 5 === 0 ? 'spring' : null, cls: 'transactional', receivedAt: T0 + i * 1000, pool: i % 4 === 0 ? 'promo' : 'tx', provider: i % 3 === 0 ? 'gmail' : 'other', source: i % 2 ? 'ip1' : null, rcpts: [`u${i}@d${i % 3}.test`], state: 'ready', attempts: 0, nextAt: 0, lastReply: null };
    idx.add(init);
  }
  return idx;
}

test('a selector on a dimension without members picks what one with members would', () => {
  const idx = fill();
  expect(idx.select({ provider: 'gmail' }).map((e) => e.id)).toEqual(idx.select({ domain: 'd0.test' }).map((e) => e.id));
  expect(idx.select({ pool: 'promo', domain: 'd0.test' }).every((e) => e.pool === 'promo' && e.domain === 'd0.test')).toBe(true);
  expect(idx.select({ pool: 'promo', domain: 'd0.test' })).toHaveLength(25);
  expect(idx.select({ source: 'ip1', campaign: 'spring' })).toHaveLength(30);
  expect(idx.select({ class: 'transactional' }, 'ready')).toHaveLength(300);
});

test('paging by provider returns each entry once, in queue order', () => {
  const idx = fill();
  const seen: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page: ReturnType<QueueIndex['page']> = idx.page({ provider: 'other' }, undefined, 30, after);
    seen.push(...page.entries.map((e) => e.id));
    if (page.next === null) break;
    after = page.next;
  }
  expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => `Q${i}`));
});

test('summaries count messages, recipients, the oldest and the commonest reply with or without members', () => {
  const idx = fill();
  const now = T0 + 1_000_000;
  const gmail = idx.summary('provider', now).find((g) => g.key === 'gmail');
  expect(gmail).toMatchObject({ messages: 100, recipients: 100, ready: 100, oldest_s: 1000 });
  const d1 = idx.summary('domain', now).find((g) => g.key === 'd1.test');
  expect(d1).toMatchObject({ messages: 100, oldest_s: 999 });
  // A reply shared by many deferred entries is their top reply; a group emptied goes away.
  for (const e of idx.select({ provider: 'gmail' })) idx.update(e, { state: 'deferred', lastReply: `451 4.4.1 connection ${'refused'}` });
  expect(idx.summary('provider', now).find((g) => g.key === 'gmail')).toMatchObject({ deferred: 100, ready: 0, top_reply: '451 4.4.1 connection refused' });
  for (const e of idx.select({ provider: 'gmail' })) idx.remove(e);
  expect(idx.summary('provider', now).map((g) => g.key)).toEqual(['other']);
  expect(idx.size).toBe(200);
  // Moving an entry between groups of a dimension without members.
  const [first] = idx.select({ provider: 'other' });
  if (!first) throw new Error('no entry');
  idx.update(first, { provider: 'yahoo' });
  expect(idx.summary('provider', now).find((g) => g.key === 'yahoo')).toMatchObject({ messages: 1, oldest_s: Math.floor((now - first.receivedAt) / 1000) });
  expect(idx.select({ provider: 'yahoo' }).map((e) => e.id)).toEqual([first.id]);
});

test('a group without members gives its oldest to the minute once its oldest entry has left', () => {
  const idx = fill();
  const now = T0 + 1_000_000;
  // Entries of provider gmail arrived every 3 s from T0; the first one leaves.
  const [q0] = idx.entriesOf('Q0');
  if (!q0) throw new Error('no Q0');
  idx.remove(q0);
  const truth = Math.floor((now - (T0 + 3_000)) / 1000);
  const shown = idx.summary('provider', now).find((g) => g.key === 'gmail')?.oldest_s ?? -1;
  expect(shown).toBeGreaterThanOrEqual(truth);
  expect(shown - truth).toBeLessThan(60);
  // Every entry of a minute gone: that minute no longer counts.
  for (const e of idx.select({ provider: 'gmail' })) if (e.receivedAt < T0 + 150_000) idx.remove(e);
  const later = idx.summary('provider', now).find((g) => g.key === 'gmail')?.oldest_s ?? -1;
  expect(later).toBeGreaterThanOrEqual(850);
  expect(later).toBeLessThan(850 + 60);
});

test('a message with mail for three domains has three entries; removing them one by one keeps the rest findable by id', () => {
  const idx = new QueueIndex();
  const init = (domain: string): EntryInit => ({ id: 'M1', domain, sender: 'a@s.test', campaign: null, cls: 'transactional', receivedAt: T0, pool: 'tx', provider: 'other', source: null, rcpts: [`u@${domain}`], state: 'ready', attempts: 0, nextAt: 0, lastReply: null });
  const [a, b, c] = ['a.test', 'b.test', 'c.test'].map((d) => idx.add(init(d))) as [ReturnType<QueueIndex['add']>, ReturnType<QueueIndex['add']>, ReturnType<QueueIndex['add']>];
  expect(idx.entriesOf('M1').map((e) => e.domain)).toEqual(['a.test', 'b.test', 'c.test']);
  idx.remove(b);
  expect(idx.select({ queue_id: 'M1' }).map((e) => e.domain)).toEqual(['a.test', 'c.test']);
  idx.remove(a);
  expect(idx.entriesOf('M1').map((e) => e.domain)).toEqual(['c.test']);
  idx.remove(a); // already gone: nothing changes
  expect(idx.size).toBe(1);
  idx.remove(c);
  expect(idx.entriesOf('M1')).toEqual([]);
  expect(idx.size).toBe(0);
  expect(idx.select({ class: 'transactional' })).toEqual([]);
});
