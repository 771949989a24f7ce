// Many messages queued while the MX is down survive a restart: recovery hands them to the
// queue as it reads the spool, each keeps its next attempt time, and each recipient is
// delivered exactly once.
import { expect, test } from 'vitest';
import { useRelayToMx } from '../support/gateway.js';
import { RawSmtp, message } from '../support/smtp-client.js';

const env = useRelayToMx('127.0.0.32', `
[queue]
retry = ["1h"]
`);

test('a restart with 400 queued messages delivers every recipient once', async () => {
  await env.mx.down();
  const expected: string[] = [];
  for (let conn = 0; conn < 4; conn++) {
    const c = await RawSmtp.open(env.gw.port());
    await c.read();
    await c.cmd('EHLO app.test');
    for (let i = 0; i < 100; i++) {
      // Every fifth message has a second recipient at another domain: two queue items, one message.
      const rcpts = [`r${conn}-${i}@d${i % 7}.example.net`, ...(i % 5 === 0 ? [`s${conn}-${i}@e${i % 3}.example.org`] : [])];
      expect((await c.send('app@example.com', rcpts, message({ subject: `m${conn}-${i}` })))?.code).toBe(250);
      expected.push(...rcpts);
    }
    c.close();
  }
  await expect.poll(() => env.gw.node.scheduler.waitingItems().length, { timeout: 20_000 }).toBe(expected.length);

  const before = new Map(env.gw.node.scheduler.waitingItems().map((p) => [`${p.id} ${p.rcpts.join(',')}`, p.nextAt]));

  await env.mx.up();
  await env.restart();
  // Recovered mail keeps its retry schedule (the journal records each next attempt): a
  // restart does not make the whole backlog due at once.
  await expect.poll(() => env.gw.node.scheduler.waitingItems().length, { timeout: 20_000 }).toBe(expected.length);
  const after = new Map(env.gw.node.scheduler.waitingItems().map((p) => [`${p.id} ${p.rcpts.join(',')}`, p.nextAt]));
  // (the journal keeps whole seconds, rounded up: never earlier than scheduled)
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  for (const [k, at] of after) expect(at - (before.get(k) as number)).toSatisfy((d: number) => d >= 0 && d < 1000);
  expect(env.mx.messages).toHaveLength(0);
  // An operator's flush makes them due now.
  expect(env.gw.node.scheduler.flush()).toBe(expected.length);
  await env.mx.waitUntil((mx) => mx.messages.reduce((n, m) => n + m.rcpts.length, 0) >= expected.length, 30_000);
  await expect.poll(() => env.gw.node.scheduler.depth, { timeout: 10_000 }).toBe(0);

  const delivered = env.mx.messages.flatMap((m) => m.rcpts);
  expect(delivered.length).toBe(expected.length);
  expect([...delivered].sort()).toEqual([...expected].sort());
});
