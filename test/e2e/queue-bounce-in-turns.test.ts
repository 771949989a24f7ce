// A bounce of many recipients (issue 17 item 4) runs in turns of the event loop: it still
// ends with one bounced outcome per recipient (reason admin) and one DSN per message (half
// of them to two domains, so two queue items each), and a message accepted over SMTP
// while it runs gets its 250.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { readEvents } from '../support/feedback.js';

const TOKEN = 'queue-token-0123456789';
const MESSAGES = 400;
const PER_MESSAGE = 10;
let mx: TestMx;
let gw: TestGateway;
let admin: string;

beforeAll(async () => {
  mx = await startTestMx({ host: '127.0.0.176', rejectRcpt: (rcpt) => (/@blocked2?\.test$/.test(rcpt) ? { code: 451, message: '4.7.0 Try again later' } : null) });
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(relayConfig({ mx: mx.address, source: { name: 'srca', ip: '127.0.0.177' }, admin: { port, token: TOKEN } }, `[queue]\nretry = ["1h"]\n[events]\nfile = "\${DIR}/events.log"\n`));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

async function open(): Promise<RawSmtp> {
  const c = await RawSmtp.open(gw.port(), { host: '127.0.0.1' });
  await c.read();
  await c.cmd('EHLO app.test');
  return c;
}

const sender = (i: number) => `app${i}@ok.test`;
const events = () => readEvents(join(gw.dir, 'events.log'));
const blockedLeft = () => gw.node.scheduler.index.select({ campaign: 'big' }).length;

test('a bounce of 4 000 recipients: one bounced outcome each, one DSN per message, and accepted mail still gets its 250 meanwhile', async () => {
  // 400 messages of 10 recipients each, from 400 senders, over 4 connections; every attempt is deferred (451).
  // Every other message has half its recipients at a second domain: two queue items, one DSN.
  await Promise.all(
    Array.from({ length: 4 }, async (_, c) => {
      const s = await open();
      for (let i = c; i < MESSAGES; i += 4) {
        const rcpts = Array.from({ length: PER_MESSAGE }, (_, k) => `u${i}-${k}@${i % 2 === 1 && k % 2 === 1 ? 'blocked2' : 'blocked'}.test`);
        expect((await s.send(sender(i), rcpts, message({ from: sender(i), to: rcpts[0] ?? '', headers: ['X-Campaign-ID: big'] })))?.code).toBe(250);
      }
      s.close();
    }),
  );
  await expect.poll(() => gw.node.scheduler.index.summary('campaign', Date.now()).find((g) => g.key === 'big')?.deferred, { timeout: 60_000, interval: 200 }).toBe(MESSAGES * PER_MESSAGE);

  // A transaction up to its last line before the action; the rest while the bounce runs.
  const probe = await open();
  expect((await probe.cmd('MAIL FROM:<probe@ok.test>'))?.code).toBe(250);
  expect((await probe.cmd('RCPT TO:<probe@ok.test>'))?.code).toBe(250);
  expect((await probe.cmd('DATA'))?.code).toBe(354);
  const res = await fetch(`${admin}/api/queue/bounce`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ selector: { campaign: 'big' } }) });
  expect(await res.json()).toMatchObject({ action: 'bounce', messages: MESSAGES, recipients: MESSAGES * PER_MESSAGE });
  // Answered once its mail was taken: the recipients are still being ended, turn by turn.
  const running: number[] = [blockedLeft()];
  probe.write(`${message({ from: 'probe@ok.test', to: 'probe@ok.test' })}\r\n.\r\n`);
  expect((await probe.read())?.code).toBe(250);
  running.push(blockedLeft());
  let sent = 1;
  while (blockedLeft() > 0) {
    expect((await probe.send('probe@ok.test', [`probe${sent}@ok.test`], message({ from: 'probe@ok.test', to: `probe${sent}@ok.test` })))?.code).toBe(250);
    sent++;
  }
  probe.close();
  expect(running[0]).toBeGreaterThan(0);
  expect(running[1]).toBeGreaterThan(0);

  const dsns = () => mx.messages.filter((m) => m.mailFrom === '');
  await mx.waitUntil(() => dsns().length >= MESSAGES, 60_000);
  await new Promise((r) => setTimeout(r, 1000));
  const to = dsns().flatMap((m) => m.rcpts);
  expect(to).toHaveLength(MESSAGES);
  expect(new Set(to).size).toBe(MESSAGES);
  expect(dsns().every((m) => m.raw.toString().includes('bounced by an operator'))).toBe(true);

  await expect.poll(() => events().filter((e) => e.event === 'bounced').length, { timeout: 10_000 }).toBe(MESSAGES * PER_MESSAGE);
  const bounced = events().filter((e) => e.event === 'bounced');
  expect(new Set(bounced.map((e) => e['recipient'])).size).toBe(MESSAGES * PER_MESSAGE);
  expect(bounced.every((e) => String(e['reply']).includes('reason: admin'))).toBe(true);
  await mx.waitUntil((m) => m.messages.filter((x) => x.rcpts.some((r) => r.startsWith('probe'))).length >= sent, 30_000);
}, 180_000);
