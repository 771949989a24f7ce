/** The rules file: a strict schema whose errors name file, line and key; operator files in front. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BounceClassifier } from '../../gateway/bounce/classify.js';
import { loadBounceRules, shippedRulesPath } from '../../gateway/bounce/rules.js';
import { ConfigError } from '../../gateway/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-bounce-rules-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const issues = (files: string[]) => {
  try {
    loadBounceRules(files);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('no error');
};

test('the shipped rules load and give every reason settings', () => {
  const rules = loadBounceRules([shippedRulesPath()]);
  expect(rules.rules.length).toBeGreaterThan(40);
  expect(rules.reasons.userunknown).toEqual({ hard: true, status: '5.1.1' });
  expect(rules.reasons.blocked.hard).toBe(false);
  // The vocabulary of issue 15, every reason with settings, and hard only where the address itself is bad.
  const vocabulary = 'userunknown, hostunknown, mailboxfull, hasmoved, suspend, expired, filtered, rejected, blocked, spamdetected, virusdetected, policyviolation, norelaying, notaccept, requireptr, authfailure, badreputation, securityerror, failedstarttls, mesgtoobig, exceedlimit, contenterror, notcompliantrfc, syntaxerror, networkerror, systemerror, systemfull, mailererror, toomanyconn, speeding, onhold, vacation, delivered, feedback, undefined';
  expect(Object.keys(rules.reasons).sort()).toEqual(vocabulary.split(', ').sort());
  expect(Object.entries(rules.reasons).filter(([, info]) => info.hard).map(([reason]) => reason).sort()).toEqual(['hasmoved', 'hostunknown', 'notaccept', 'userunknown']);
});

test('an unknown key, a misspelt reason and a bad regular expression are named with file:line and key', () => {
  const bad = file('bad.toml', ['[[rules]]', 'reason = "userunknown"', 'txt = ["x"]', ''].join('\n'));
  expect(issues([bad, shippedRulesPath()])).toContain(`${bad}:3 rules[0].txt: unknown key "txt" (did you mean "text"?)`);
  const reason = file('reason.toml', ['[[rules]]', 'reason = "usrunknown"', 'text = "x"', ''].join('\n'));
  expect(issues([reason, shippedRulesPath()])).toMatch(new RegExp(`^${reason}:2 rules\\[0\\]\\.reason: not a reason \\("usrunknown"\\) \\(did you mean "userunknown"\\?\\)`));
  const regex = file('regex.toml', ['[[rules]]', 'reason = "blocked"', 'text = ["ok", "(unclosed"]', ''].join('\n'));
  expect(issues([regex, shippedRulesPath()])).toMatch(new RegExp(`^${regex}:3 rules\\[0\\]\\.text\\[1\\]: not a valid regular expression`));
  const empty = file('empty.toml', ['[[rules]]', 'reason = "blocked"', ''].join('\n'));
  expect(issues([empty, shippedRulesPath()])).toContain('a rule needs at least one of status');
});

test("an operator's file is tried first and may change a reason's settings", () => {
  const mine = file('mine.toml', ['[reasons]', 'mailboxfull = { hard = true, status = "5.2.2" }', '', '[[rules]]', 'reason = "suspend"', 'text = "account is resting"', ''].join('\n'));
  const c = new BounceClassifier(loadBounceRules([mine, shippedRulesPath()]));
  expect(c.classify({ status: '5.0.0', replyCode: 550, diagnostic: 'This account is resting, user unknown' })).toMatchObject({ reason: 'suspend', rule: `${mine}:4` });
  expect(c.classify({ status: '5.2.2', replyCode: 552, diagnostic: 'Mailbox full' })).toMatchObject({ reason: 'mailboxfull', hard: true });
});

test('headers and recipient criteria: a rule for one provider\'s bounces; their bad expressions are named too', () => {
  const mine = file('provider.toml', ['[[rules]]', 'reason = "onhold"', 'headers = ["^x-mailer: acme gateway"]', 'recipient = "@hold\\\\.test$"', ''].join('\n'));
  const c = new BounceClassifier(loadBounceRules([mine, shippedRulesPath()]));
  const facts = { status: '5.0.0', replyCode: 550, diagnostic: 'Rejected' };
  expect(c.classify({ ...facts, headers: 'From: x@y.test\nX-Mailer: ACME Gateway 2.1', recipient: 'a@hold.test' })).toMatchObject({ reason: 'onhold', rule: `${mine}:1` });
  // Without the provider's header or recipient the operator's rule does not decide (the shipped X.0.0 rule does).
  expect(c.classify({ ...facts, headers: 'From: x@y.test\nX-Mailer: other', recipient: 'a@hold.test' }).rule).not.toBe(`${mine}:1`);
  expect(c.classify({ ...facts, headers: 'X-Mailer: ACME Gateway', recipient: 'a@other.test' }).rule).not.toBe(`${mine}:1`);
  const bad = file('bad-headers.toml', ['[[rules]]', 'reason = "onhold"', 'headers = ["(x"]', ''].join('\n'));
  expect(issues([bad, shippedRulesPath()])).toMatch(new RegExp(`^${bad}:3 rules\\[0\\]\\.headers\\[0\\]: not a valid regular expression`));
});

test('[[fallback]] rules decide only when no rule matched the diagnostic nor the explanation; their mistakes are named too', () => {
  const c = new BounceClassifier(loadBounceRules([shippedRulesPath()]));
  // A Sendmail exit status as the whole diagnostic, the explanation saying what failed: the explanation wins over X.0.0.
  expect(c.classify({ status: '5.0.0', replyCode: 554, diagnostic: '255', context: 'Returned mail: see transcript for details. Mailer error: procmail exit code 255' }).reason).toBe('mailererror');
  expect(c.classify({ status: '5.0.0', replyCode: 554, diagnostic: '255', context: 'Returned mail: see transcript for details' })).toMatchObject({ reason: 'onhold', hard: false });
  const bad = file('bad-fallback.toml', ['[[fallback]]', 'reason = "onhold"', 'stauts = "5.0.0"', ''].join('\n'));
  expect(issues([bad, shippedRulesPath()])).toContain(`${bad}:3 fallback[0].stauts: unknown key "stauts" (did you mean "status"?)`);
});

test('what proves nothing about the recipient does not make it hard: the sender\'s null MX, the generic 550 text', () => {
  const c = new BounceClassifier(loadBounceRules([shippedRulesPath()]));
  // RFC 7505: 5.7.27 is the sender's domain publishing a null MX; 5.1.10 the recipient's.
  expect(c.classify({ status: '5.7.27', replyCode: 550, diagnostic: '550 5.7.27 Sender address has null MX' })).toMatchObject({ reason: 'rejected', hard: false });
  expect(c.classify({ status: '5.7.27', replyCode: 550, diagnostic: '' })).toMatchObject({ reason: 'rejected', hard: false });
  expect(c.classify({ status: '5.1.10', replyCode: 556, diagnostic: '556 5.1.10 Recipient address has null MX' })).toMatchObject({ reason: 'notaccept', hard: true });
  // RFC 5321's generic text for any 550: a policy refusal says so, a bare one stays soft.
  expect(c.classify({ status: '5.3.0', replyCode: 554, diagnostic: '554 5.3.0 mailbox unavailable for policy reasons' })).toMatchObject({ hard: false });
  expect(c.classify({ status: '5.0.0', replyCode: 550, diagnostic: '550 Requested action not taken: mailbox unavailable', host: 'mx.example.net' })).toMatchObject({ hard: false });
  // Outlook.com answers an unknown address with exactly that text: from its hosts it is userunknown.
  expect(c.classify({ status: '5.0.0', replyCode: 550, diagnostic: '550 Requested action not taken: mailbox unavailable (-22:2222)', host: 'BAY004-MC1F22.hotmail.com' })).toMatchObject({ reason: 'userunknown', hard: true });
});
