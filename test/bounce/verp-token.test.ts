// VERP tokens (gateway/bounce/verp.ts): the local part fits RFC 5321's 64 octets, survives
// case folding, ties only the recipient (or, for several, the domain) it was signed for,
// and a token from another key, or with any character changed, ties nothing.
import { expect, test } from 'vitest';
import { nameHash, nameOf, verpSender, VerpTokens } from '../../gateway/bounce/verp.js';

const tokens = new VerpTokens('verp-secret-0123456789abcdef', 'bounces.example.com');
const delivery = { queueId: '0MX9G7HSY00057A0E', mailFrom: 'news@example.com', rcpts: ['Reader@Example.net'], source: 'tx1', pool: 'transactional' };

test('one recipient: the token ties that recipient only, in any case', () => {
  const address = tokens.returnPath(delivery);
  const local = address.slice(0, address.lastIndexOf('@'));
  expect(address.endsWith('@bounces.example.com')).toBe(true);
  expect(local.length).toBeLessThanOrEqual(64);
  expect(local).toMatch(/^b\+[0-9a-z]{17}-r[0-9a-f]{12}-[0-9a-f]{24}$/);
  const ref = tokens.parse(local.toUpperCase().replace('B+', 'b+'));
  expect(ref).toMatchObject({ queueId: '0MX9G7HSY00057A0E', scope: 'r' });
  expect(tokens.ties(ref!, 'reader@example.net')).toBe(true);
  expect(tokens.ties(ref!, 'other@example.net')).toBe(false);
  expect(tokens.senderIs(ref!, 'NEWS@example.com')).toBe(true);
  expect(tokens.senderIs(ref!, 'victim@example.org')).toBe(false);
  expect(nameOf(ref!.sourceHash, ['tx2', 'tx1'])).toBe('tx1');
  expect(nameOf(ref!.poolHash, ['promotional', 'transactional'])).toBe('transactional');
});

test('several recipients at one domain: any of that domain, none elsewhere', () => {
  const address = tokens.returnPath({ ...delivery, rcpts: ['a@example.net', 'b@example.net'] });
  const ref = tokens.parse(address.slice(0, address.lastIndexOf('@')));
  expect(ref?.scope).toBe('d');
  expect(tokens.ties(ref!, 'c@example.net')).toBe(true);
  expect(tokens.ties(ref!, 'a@example.org')).toBe(false);
});

test('another key or any changed character ties nothing', () => {
  const address = tokens.returnPath(delivery);
  const local = address.slice(0, address.lastIndexOf('@'));
  const other = new VerpTokens('another-secret-0123456789abc', 'bounces.example.com');
  expect(other.ties(other.parse(local)!, 'reader@example.net')).toBe(false);
  for (let i = 2; i < local.length; i++) {
    if (local[i] === '-') continue;
    const c = local[i] === '0' ? '1' : '0';
    const ref = tokens.parse(`${local.slice(0, i)}${c}${local.slice(i + 1)}`);
    if (ref) expect(tokens.ties(ref, 'reader@example.net')).toBe(false);
  }
  expect(tokens.parse('b+short')).toBeNull();
});

test('the null sender and our DSNs keep <>', () => {
  expect(verpSender(tokens, { id: 'X', mailFrom: '', isDsn: false }, ['a@example.net'], 'tx1', null)).toBe('');
  expect(verpSender(tokens, { id: 'X', mailFrom: 'a@b.c', isDsn: true }, ['a@example.net'], 'tx1', null)).toBe('a@b.c');
  expect(nameHash(null)).toBe('000000');
});
