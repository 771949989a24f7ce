// Bounces mailed back to the VERP domain take the one outcome path all the way: past
// max_bounce_rate toward a provider they hold the source for it (source_held, reason
// bounce_rate), a bounce_rate alert rises, the admin API the dashboard reads counts them
// per source and provider, and a plugin's `bounced` observer gets each with its reason.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OutcomeEvent } from '../../gateway/plugin-host/public.js';
import { relayConfig } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { startRawMx, type RawMx } from '../support/raw-mx.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { startBuiltGateway, waitForEventLine, type BuiltGateway } from '../support/feedback.js';

const DOMAIN = 'bounces.sluice.test';
const SOURCE_IP = '127.0.0.182';
const OUTSIDER = '127.0.0.183';
const TOKEN = 'admin-token-verp-health-0123456789';
const GATEKEEPER = join(import.meta.dirname, '../plugin-host/fixtures/gatekeeper.mjs');
const observed = (): { kind: string; event: OutcomeEvent & { bounce?: { reason: string; hard: boolean } } }[] => ((globalThis as { __gatekeeperOutcomes?: [] }).__gatekeeperOutcomes ??= []);

let mx: RawMx;
let gw: BuiltGateway;
let admin: string;

beforeAll(async () => {
  mx = await startRawMx('127.0.0.181');
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startBuiltGateway(
    relayConfig({ mx: `127.0.0.181:${mx.port}`, source: { name: 'tx1', ip: SOURCE_IP }, admin: { port, token: TOKEN } }, `
[pools.transactional.health]
max_bounce_rate = 0.3
min_volume = 5
window = "10m"
hold_for = "10m"
[providers.yahoo]
domains = ["yahoo.test"]
[events]
file = "\${DIR}/events.jsonl"
[[alerts]]
metric = "bounce_rate"
scope = "source"
threshold = 0.3
min_volume = 5
[plugins]
order = [${JSON.stringify(GATEKEEPER)}]
[bounces]
domain = "${DOMAIN}"
secret = "verp-health-secret-0123456789"
`),
  );
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

function dsn(rcpt: string): string {
  return [
    'From: MAILER-DAEMON@mta5.am0.yahoodns.test',
    'Subject: Delivery Status Notification (Failure)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="y"',
    '',
    '--y',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mta5.am0.yahoodns.test',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: failed',
    'Status: 5.2.2',
    'Diagnostic-Code: smtp; 552 5.2.2 Mailbox full',
    '',
    '--y--',
    '',
  ].join('\r\n');
}

test('mailed-back bounces hold the source for the provider, raise the alert, count on the dashboard and reach plugin observers', async () => {
  const app = await RawSmtp.open(gw.port());
  await app.read();
  await app.cmd('EHLO app.test');
  const rcpts = ['r0', 'r1', 'r2', 'r3'].map((r) => `${r}@yahoo.test`);
  for (const r of rcpts) expect((await app.send('news@example.com', [r], message({ from: 'news@example.com', to: r })))?.code).toBe(250);
  app.close();
  await expect.poll(() => mx.transactions.length, { timeout: 10_000 }).toBe(4);
  await waitForEventLine(gw.events, (e) => e.event === 'delivered' && e['recipient'] === 'r3@yahoo.test');
  const returnPath = (rcpt: string) => /^MAIL FROM:<([^>]+)>/.exec(mx.transactions.find((t) => t.lines.includes(`RCPT TO:<${rcpt}>`))?.lines[0] ?? '')?.[1] ?? `no return path for ${rcpt}`;

  const yahoo = await RawSmtp.open(gw.port(), { localAddress: OUTSIDER });
  await yahoo.read();
  await yahoo.cmd('EHLO mta5.am0.yahoodns.test');
  // One bounce in five outcomes is 20%: under the limit, nothing held.
  expect((await yahoo.send('', [returnPath('r0@yahoo.test')], dsn('r0@yahoo.test')))?.code).toBe(250);
  await waitForEventLine(gw.events, (e) => e.event === 'bounced' && e['recipient'] === 'r0@yahoo.test');
  await gw.node.observer?.alerts.evaluate();
  expect(gw.node.observer?.alerts.active()).toHaveLength(0);
  // Two in six is 33%: over max_bounce_rate 30%.
  expect((await yahoo.send('', [returnPath('r1@yahoo.test')], dsn('r1@yahoo.test')))?.code).toBe(250);
  yahoo.close();

  const held = await waitForEventLine(gw.events, (e) => e.event === 'source_held');
  expect(held).toMatchObject({ source: 'tx1', provider: 'yahoo', reason: 'bounce_rate', by: 'health' });
  await gw.node.observer?.alerts.evaluate();
  expect(gw.node.observer?.alerts.active()).toMatchObject([{ metric: 'bounce_rate', scope: 'source', key: 'tx1', value: 2 / 6 }]);

  const res = await fetch(`${admin}/api/stats?window=5m`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const stats = (await res.json()) as { by_source: { key: string; delivered: number; bounced: number }[]; by_provider: { key: string; bounced: number; bounce_rate: number }[] };
  expect(stats.by_source.find((r) => r.key === 'tx1')).toMatchObject({ delivered: 4, bounced: 2 });
  expect(stats.by_provider.find((r) => r.key === 'yahoo')).toMatchObject({ bounced: 2, bounce_rate: 2 / 6 });

  const bounced = observed().filter((o) => o.kind === 'bounced');
  expect(bounced.map((o) => [o.event.recipient, o.event.source, o.event.provider, o.event.bounce])).toEqual([
    ['r0@yahoo.test', 'tx1', 'yahoo', { reason: 'mailboxfull', hard: false }],
    ['r1@yahoo.test', 'tx1', 'yahoo', { reason: 'mailboxfull', hard: false }],
  ]);
});
