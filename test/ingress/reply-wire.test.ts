// wireReply: what send() writes for each kind of reply (the e2e test reply-wire.test.ts
// checks the same on the wire; this pins the cases a session cannot easily produce).
import { expect, test } from 'vitest';
import { asciiText, wireReply } from '../../gateway/ingress/reply-wire.js';

test('non-ASCII becomes "?", control characters a space', () => {
  expect(asciiText('§2 f\u00fcr\tSie \u{1F600}')).toBe('?2 f?r Sie ??');
});

test('the greeting and the 250 to HELO/EHLO get no code; errors to HELO do', () => {
  expect(wireReply(220, 'gw ESMTP Sluice', false, '')).toEqual({ data: 'gw ESMTP Sluice', context: false });
  expect(wireReply(250, ['gw Nice to meet you', 'PIPELINING'], false, '')).toEqual({ data: ['gw Nice to meet you', 'PIPELINING'], context: false });
  expect(wireReply(501, 'Error: Bad hostname syntax', false, '')).toEqual({ data: '5.5.4 Error: Bad hostname syntax', context: false });
  expect(wireReply(421, 'gw You talk too soon', 'EHLO', '')).toEqual({ data: '4.5.0 gw You talk too soon', context: false });
});

test('3xx replies are left alone (RFC 2034 §4 excludes them)', () => {
  expect(wireReply(354, 'End data with <CR><LF>.<CR><LF>', undefined, '')).toEqual({ data: 'End data with <CR><LF>.<CR><LF>', context: undefined });
  expect(wireReply(334, undefined, undefined, '')).toEqual({ data: undefined, context: undefined });
});

test('our own code is kept; one of the wrong class is not taken for ours', () => {
  expect(wireReply(550, '5.7.1 Relaying denied', undefined, '5.1.1')).toEqual({ data: '5.7.1 Relaying denied', context: false });
  expect(wireReply(550, '4.7.1 wrong class', undefined, '5.1.1')).toEqual({ data: '4.7.1 wrong class', context: undefined });
});

test("smtp-server's derived code is kept unless a known text says better", () => {
  expect(wireReply(250, 'Accepted', 'MAIL_FROM_OK', '2.1.0')).toEqual({ data: 'Accepted', context: 'MAIL_FROM_OK' });
  expect(wireReply(421, 'gw Too many connected clients, try again in a moment', false, '')).toEqual({ data: '4.3.2 gw Too many connected clients, try again in a moment', context: false });
  expect(wireReply(421, 'Server shutting down', 'NOOP', '4.4.2')).toEqual({ data: '4.3.2 Server shutting down', context: false });
});

test('a multi-line error gets the code on every line', () => {
  expect(wireReply(554, ['first', 'second'], false, '')).toEqual({ data: ['5.5.0 first', '5.5.0 second'], context: false });
});
