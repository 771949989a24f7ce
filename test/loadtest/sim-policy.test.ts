import { describe, expect, it } from 'vitest';
import { ProviderPolicy } from '../../loadtest/sim/policy.js';
import { parseProfile } from '../../loadtest/sim/profile.js';

// The decisions of a simulated provider, without sockets.
const PROFILE = `
[per_connection]
max_messages = 2
[recipients.unknown]
share = 0.0
[recipients.mailbox_full]
prefix = "full"
clears_after = 2
[greylist]
enabled = true
[random_defer]
share = 0.5
at = "data"
`;

describe('provider policy', () => {
  const make = (random = () => 0.9) => new ProviderPolicy(parseProfile('p', PROFILE, 'p.toml'), () => 0, random);

  it('greylists the first attempt of each (ip, sender, rcpt) triple once', () => {
    const p = make();
    expect(p.onRcpt('127.0.0.2', 's@x', 'lt-a-1@d')).toMatchObject({ reason: 'greylist', code: 451 });
    expect(p.onRcpt('127.0.0.2', 's@x', 'lt-a-1@d')).toBeNull();
    expect(p.onRcpt('127.0.0.3', 's@x', 'lt-a-1@d')).toMatchObject({ reason: 'greylist' }); // another IP: a new triple
    expect(p.refusals.greylist).toBe(2);
  });

  it('refuses unknown users for good and full mailboxes until they clear', () => {
    const p = make();
    expect(p.onRcpt('127.0.0.2', 's@x', 'unknown-a-1@d')).toMatchObject({ reason: 'unknown', code: 550, lines: ['5.1.1 <unknown-a-1@d>: Recipient address rejected: User unknown'] });
    expect(p.onRcpt('127.0.0.2', 's@x', 'unknown-a-1@d')).toMatchObject({ reason: 'unknown' });
    expect(p.onRcpt('127.0.0.2', 's@x', 'full-a-2@d')).toMatchObject({ reason: 'mailbox_full', code: 452 });
    expect(p.onRcpt('127.0.0.2', 's@x', 'full-a-2@d')).toMatchObject({ reason: 'mailbox_full' });
    expect(p.onRcpt('127.0.0.2', 's@x', 'full-a-2@d')).toMatchObject({ reason: 'greylist' }); // cleared; now greylisting
  });

  it('ends a session after max_messages and defers a share at random', () => {
    const p = make(() => 0.1);
    expect(p.onMail('127.0.0.2', 1)).toBeNull();
    expect(p.onMail('127.0.0.2', 2)).toMatchObject({ reason: 'per_connection', code: 421 });
    expect(p.onDataEnd('127.0.0.2', 's@x', ['lt-a-1@d'])).toMatchObject({ reason: 'random', code: 451 });
    expect(make(() => 0.9).onDataEnd('127.0.0.2', 's@x', ['lt-a-1@d'])).toBeNull();
  });
});
