// An operator's bounce cut short between a message's DSN commit and the record of its
// recipients (issue 17): the spool holds the message with every recipient still queued and
// its DSN, whose envelope names the recipients it reports (dsnFor), as a kill -9 at that
// moment leaves them. At the next start the node records those recipients bounced (no
// second DSN, no delivery), delivers the DSN once, and still delivers the recipient the
// bounce did not match.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startCli, tempDir } from '../support/gateway.js';
import { startTestMx } from '../support/test-mx.js';
import { SegmentSpool } from '../../gateway/spool/segment-spool.js';
import type { Envelope } from '../../gateway/spool/types.js';
import { recoverAll } from '../support/spool.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const base = { receivedAt: Date.now(), class: 'transactional', pool: null, priority: null, campaign: null, authUser: null, clientAddress: '127.0.0.1', routeHeaders: {} };

/**
 * A node started on a spool holding `original` and its DSN as a kill -9 between the DSN's
 * commit and its recipients' record leaves them; resolves once the MX has had two messages
 * (and a second more, so anything further would show).
 */
async function startAfterCrash(original: Envelope, originalBody: string, dsn: Envelope, dsnBody: string, mxHost: string) {
  const dir = tempDir();
  const spool = await SegmentSpool.open(join(dir, 'data/spool'), { compactEveryMs: 0 });
  await recoverAll(spool, () => undefined);
  await spool.commit(original, Buffer.from(originalBody));
  await spool.commit(dsn, Buffer.from(dsnBody));
  await spool.close();

  const mx = await startTestMx({ host: mxHost });
  cleanups.push(() => mx.close());
  const config = join(dir, 'sluice.toml');
  writeFileSync(config, `[node]\ndata_dir = "${dir}/data"\nhostname = "gw.test"\n[dns.static]\n"*" = "${mx.address}"\n[events]\nfile = "${dir}/events.log"\n`);
  const node = startCli(config);
  cleanups.push(() => node.child.kill('SIGKILL'));
  await node.waitFor('started');
  await mx.waitFor(2);
  await new Promise((r) => setTimeout(r, 1_000)); // anything more would show here
  const events = () => readFileSync(join(dir, 'events.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; recipient?: string; reply?: string });
  return { mx, node, events };
}

test('a DSN committed before its recipients were recorded bounced: recovery records them, the DSN goes once, the rest is delivered', async () => {
  const original: Envelope = { ...base, id: 'ORIG1', mailFrom: 'app@ok.test', rcpts: ['a@blocked.test', 'b@blocked.test', 'c@fine.test'], messageId: '<orig1@ok.test>', isDsn: false };
  const dsn: Envelope = { ...base, id: 'DSN01', mailFrom: '', rcpts: ['app@ok.test'], messageId: null, isDsn: true, dsnFor: { id: 'ORIG1', rcpts: ['a@blocked.test', 'b@blocked.test'] } };
  const { mx, node, events } = await startAfterCrash(original, 'Subject: orig1\r\nMessage-ID: <orig1@ok.test>\r\n\r\nhello\r\n', dsn, 'Subject: Undelivered Mail Returned to Sender\r\n\r\nFinal-Recipient: rfc822; a@blocked.test\r\nFinal-Recipient: rfc822; b@blocked.test\r\n', '127.0.0.191');

  expect(mx.messages.filter((m) => m.mailFrom !== '').flatMap((m) => m.rcpts)).toEqual(['c@fine.test']);
  const dsns = mx.messages.filter((m) => m.mailFrom === '');
  expect(dsns).toHaveLength(1);
  expect(dsns[0]?.raw.toString()).toContain('Final-Recipient: rfc822; a@blocked.test');
  expect(node.output()).toMatch(/"event":"queue_bounce_completed","recipients":2/);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
  const bounced = events().filter((e) => e.event === 'bounced');
  expect(bounced.map((b) => b.recipient).sort()).toEqual(['a@blocked.test', 'b@blocked.test']);
  expect(bounced.every((b) => b.reply?.includes('reason: admin'))).toBe(true);
}, 60_000);

// The same window for the queue's own DSNs (a remote 5xx, expiry): since every DSN is
// committed before the recipients it reports are recorded, a kill -9 between the two leaves
// this spool. Recovery records each recipient as the DSN says (bounced with the MX's reply,
// expired), not as an operator's bounce, and sends no second DSN.
test('a DSN for a remote 5xx and an expiry, committed before its recipients were recorded: recovery records them as it says', async () => {
  const original: Envelope = { ...base, id: 'ORIG2', mailFrom: 'app@ok.test', rcpts: ['gone@far.test', 'late@slow.test', 'c@fine.test'], messageId: '<orig2@ok.test>', isDsn: false };
  const dsn: Envelope = {
    ...base,
    id: 'DSN02',
    mailFrom: '',
    rcpts: ['app@ok.test'],
    messageId: null,
    isDsn: true,
    dsnFor: {
      id: 'ORIG2',
      rcpts: ['gone@far.test', 'late@slow.test'],
      ends: [
        { rcpt: 'gone@far.test', state: 'bounced', reply: { code: 550, enhanced: '5.1.1', text: 'No such user here' } },
        { rcpt: 'late@slow.test', state: 'expired', reply: { code: 451, enhanced: '4.7.0', text: 'Try again later' } },
      ],
    },
  };
  const { mx, node, events } = await startAfterCrash(original, 'Subject: orig2\r\nMessage-ID: <orig2@ok.test>\r\n\r\nhello\r\n', dsn, 'Subject: Undelivered Mail Returned to Sender\r\n\r\nFinal-Recipient: rfc822; gone@far.test\r\nFinal-Recipient: rfc822; late@slow.test\r\n', '127.0.0.192');

  expect(mx.messages.filter((m) => m.mailFrom !== '').flatMap((m) => m.rcpts)).toEqual(['c@fine.test']);
  expect(mx.messages.filter((m) => m.mailFrom === '')).toHaveLength(1);
  expect(node.output()).toMatch(/"event":"queue_bounce_completed","recipients":2/);
  node.child.kill('SIGTERM');
  expect(await node.exited()).toBe(0);
  const ended = events().filter((e) => e.event === 'bounced' || e.event === 'expired').map((e) => `${e.event} ${e.recipient} ${e.reply}`).sort();
  expect(ended).toEqual(['bounced gone@far.test 550 5.1.1 No such user here', 'expired late@slow.test 451 4.7.0 Try again later']);
}, 60_000);
