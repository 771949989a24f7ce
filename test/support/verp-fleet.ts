/**
 * For the VERP bounce tests with two nodes on one private Redis: a node's config (one
 * promotional source, the bounce domain, an event file), a bounce as Gmail mails one back
 * (RFC 3464 report), and mailing it to a node's bounce domain from a Google-like host.
 */
import { expect } from 'vitest';
import { RawSmtp } from './smtp-client.js';
import type { BuiltGateway } from './feedback.js';

export interface VerpNode {
  readonly nodeId: string;
  /** host:port every domain resolves to ([dns.static]). */
  readonly mx: string;
  readonly redisUrl: string;
  /** Keeps each test file's state apart on a shared Redis. */
  readonly keyPrefix: string;
}

export function verpNodeConfig(n: VerpNode): string {
  return `
[node]
id = "${n.nodeId}"
data_dir = "\${DIR}/data"
hostname = "${n.nodeId}.sluice.test"
[cluster]
redis_url = "${n.redisUrl}"
key_prefix = "${n.keyPrefix}"
[[listen]]
host = "127.0.0.1"
port = 0
mode = "relay"
[relay]
networks = ["127.0.0.1/32"]
[dns.static]
"*" = "${n.mx}"
[sources.promo1]
ip = "127.0.0.93"
ehlo = "promo1.sluice.test"
[pools.promotional]
sources = ["promo1"]
[classify]
default = "promotional"
[providers.gmail]
domains = ["gmail.test"]
[events]
file = "\${DIR}/events.jsonl"
[bounces]
domain = "bounces.sluice.test"
secret = "fleet-verp-secret-0123456789"
`;
}

/** Gmail's delivery-status report for `rcpt`: `status` (5.1.1, 5.2.1...) with Gmail's words for it. */
export function gmailDsn(rcpt: string, status: string, words: string): string {
  return [
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'Subject: Delivery Status Notification (Failure)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="g"',
    '',
    '--g',
    'Content-Type: text/plain',
    '',
    words,
    '',
    '--g',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    `Status: ${status}`,
    `Diagnostic-Code: smtp; 550-${status} ${words}`,
    '',
    '--g--',
    '',
  ].join('\r\n');
}

/** Mails `text` to `to` at `node` with a null sender, as a bouncing MX does; expects 250. */
export async function mailBack(node: BuiltGateway, to: string, text: string): Promise<void> {
  const c = await RawSmtp.open(node.port(), { localAddress: '127.0.0.97' });
  await c.read();
  await c.cmd('EHLO mail-sor-f41.google.com');
  expect((await c.send('', [to], text))?.code).toBe(250);
  c.close();
}
