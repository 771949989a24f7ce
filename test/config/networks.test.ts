// Relay networks as ingress matches a client against them (gateway/config/networks.ts):
// IPv4, IPv6 and IPv4-mapped IPv6 as dual-stack sockets report it, and the same answers
// when asked again, including after more distinct addresses than the list keeps answers for.
import { expect, it } from 'vitest';
import { NetworkList } from '../../gateway/config/networks.js';

it('matches IPv4, IPv6 and IPv4-mapped IPv6 clients, and refuses what is outside or not an address', () => {
  const list = new NetworkList(['127.0.0.0/8', '192.0.2.10', '2001:db8::/32', 'not-a-network']);
  expect(list.contains('127.0.0.9')).toBe(true);
  expect(list.contains('::ffff:127.0.0.9')).toBe(true);
  expect(list.contains('192.0.2.10')).toBe(true);
  expect(list.contains('192.0.2.11')).toBe(false);
  expect(list.contains('2001:db8::25')).toBe(true);
  expect(list.contains('2001:db9::25')).toBe(false);
  expect(list.contains('garbage')).toBe(false);
  expect(list.contains('')).toBe(false);
});

it('gives the same answer every time it is asked, after 10 000 other addresses too', () => {
  const list = new NetworkList(['10.1.0.0/16']);
  const addressOf = (i: number) => `10.${i % 2 === 0 ? 1 : 2}.${(i >> 8) & 255}.${i & 255}`;
  const first = Array.from({ length: 10_000 }, (_, i) => list.contains(addressOf(i)));
  expect(first.filter(Boolean)).toHaveLength(5_000);
  expect(first.every((inside, i) => inside === (i % 2 === 0))).toBe(true);
  const again = Array.from({ length: 10_000 }, (_, i) => list.contains(addressOf(i)));
  expect(again).toEqual(first);
});
