/** X-Sluice-FBL: round trip, opacity, and refusal of anything this key did not write. */
import { expect, test } from 'vitest';
import { FeedbackTokens } from '../../gateway/bounce/feedback-token.js';

const ref = { queueId: '00MIGBQ8W0001AB12', class: 'promotional', pool: null, campaign: 'spring-sale', recipient: 'reader@yahoo.test' };

test('a token reads back to what was written, and says nothing to a reader', () => {
  const tokens = new FeedbackTokens('a-secret-of-some-length');
  const t = tokens.encode(ref);
  expect(t).toMatch(/^1\.[A-Za-z0-9_-]+$/);
  expect(t.length).toBeLessThan(300);
  for (const plain of ['reader', 'yahoo', 'promotional', 'spring', ref.queueId]) expect(t).not.toContain(plain);
  expect(tokens.decode(t)).toEqual(ref);
  // Two tokens for the same message differ (random IV): no token links two recipients.
  expect(tokens.encode(ref)).not.toBe(t);
});

test('another key, a changed byte or junk decode to null', () => {
  const t = new FeedbackTokens('a-secret-of-some-length').encode(ref);
  expect(new FeedbackTokens('another-secret-entirely').decode(t)).toBeNull();
  const body = t.slice(2);
  const flipped = `1.${body.slice(0, 10)}${body[10] === 'A' ? 'B' : 'A'}${body.slice(11)}`;
  expect(new FeedbackTokens('a-secret-of-some-length').decode(flipped)).toBeNull();
  for (const junk of ['', '1.', '2.abc', 'hello world', '1.AAAA']) expect(new FeedbackTokens('a-secret-of-some-length').decode(junk)).toBeNull();
});
