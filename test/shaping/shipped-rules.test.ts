// config/shaping.toml: every rule parses, and the providers' documented replies hit the
// rule meant for them — while replies about one recipient or one message hit none (they
// keep their own meaning: 4xx deferred, 5xx bounced).
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { loadConfig } from '../../gateway/config/load.js';
import { ProviderTable } from '../../gateway/shaping/providers.js';
import { matchRule } from '../../gateway/shaping/response-rules.js';
import { ruleMatchError } from '../../gateway/config/response-match.js';
import { parseResponse } from '../../gateway/delivery/response.js';
import { ROOT } from '../support/gateway.js';

const config = loadConfig(resolve(ROOT, 'config/sluice.toml')).config;
const table = new ProviderTable(config);

function hit(provider: string, mx: string, reply: string) {
  const limits = table.limits(`x.${provider}.example`, [mx], mx);
  expect(limits.name).toBe(provider);
  return matchRule(limits.rules, parseResponse(reply, 'RCPT TO'));
}

test('every shipped rule is an enhanced code or a valid regular expression', () => {
  const rules = Object.values(config.providers).flatMap((p) => p.rules);
  expect(rules.length).toBeGreaterThan(10);
  for (const r of rules) expect(ruleMatchError(r.match), r.match).toBeNull();
});

test('IP-level throttles and blocks hold the source', () => {
  const gmail = 'gmail-smtp-in.l.google.com';
  expect(hit('gmail', gmail, '421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of\r\n421-4.7.28 unsolicited mail originating from your IP address. To protect our\r\n421 4.7.28 users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp')?.action).toBe('hold');
  expect(hit('gmail', gmail, '550-5.7.25 [192.0.2.1] The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. - gsmtp')?.action).toBe('hold');
  const outlook = 'contoso-com.mail.protection.outlook.com';
  expect(hit('outlook', outlook, '451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)')?.action).toBe('hold');
  expect(hit('outlook', outlook, "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).")?.action).toBe('hold');
  expect(hit('outlook', outlook, '421 RP-002 The mail server IP connecting to Outlook.com server has exceeded the rate limit allowed on this connection.')?.action).toBe('hold');
  const yahoo = 'mta5.am0.yahoodns.net';
  expect(hit('yahoo', yahoo, '421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1')?.action).toBe('hold');
  expect(hit('yahoo', yahoo, '553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed.')?.action).toBe('hold');
  expect(hit('gmx', 'mx00.gmx.net', '554-gmx.net (mxgmx104) Nemesis ESMTP Service not available\r\n554-No SMTP service\r\n554-IP address is block listed.\r\n554 For explanation visit https://postmaster.gmx.net/en/case?c=r0201')?.action).toBe('hold');
  expect(hit('icloud', 'mx01.mail.icloud.com', '550 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1')?.action).toBe('hold');
  expect(hit('yandex', 'mx.yandex.ru', '554 5.7.1 Blocked by spam statistics - see https://ya.cc/...')?.action).toBe('hold');
});

test('replies about one recipient or one message hit no rule', () => {
  expect(hit('gmail', 'aspmx.l.google.com', '450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. - gsmtp')).toBeNull();
  expect(hit('gmail', 'aspmx.l.google.com', '550-5.1.1 The email account that you tried to reach does not exist. - gsmtp')).toBeNull();
  expect(hit('gmail', 'aspmx.l.google.com', '421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your DKIM domain. - gsmtp')).toBeNull();
  expect(hit('icloud', 'mx02.mail.icloud.com', '554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137')).toBeNull();
  expect(hit('yandex', 'mx.yandex.ru', '554 5.7.1 Message rejected under suspicion of SPAM; https://ya.cc/1IrBc')).toBeNull();
});
