// countReceived: Received fields of the header block only, any case, and it stops
// counting one past the limit (a header of 100 000 fields is not walked to the end).
import { expect, test } from 'vitest';
import { countReceived } from '../../gateway/ingress/hops.js';

const msg = (head: string[], body = 'hello') => Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}\r\n`, 'latin1');

test('counts Received fields in the header, in any case, not continuation lines or the body', () => {
  const m = msg(['Received: from a by b', '\tReceived: folded, not a field', 'RECEIVED : from c by d', 'received:x', 'X-Received: no', 'Subject: Received: no'], 'Received: in the body\r\nReceived: again');
  expect(countReceived(m, 50)).toBe(3);
});

test('a message with no header block end is all header', () => {
  expect(countReceived(Buffer.from('Received: a\r\nReceived: b\r\n'), 50)).toBe(2);
});

test('stops one past the limit', () => {
  const m = msg(Array.from({ length: 100_000 }, (_, i) => `Received: from h${i} by h${i + 1}`));
  expect(countReceived(m, 50)).toBe(51);
  expect(countReceived(m, 200_000)).toBe(100_000);
});
