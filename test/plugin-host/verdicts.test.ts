/**
 * Every verdict a hook can give, as the client sees it on the wire and as the MX sees
 * (or does not see) the message afterwards.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { client, message, MX_HOST, removeDir, startNode, tempDir, wire, RawSmtp, type RunningNode } from './harness.js';

const fixture = (name: string) => join(import.meta.dirname, 'fixtures', name);

let mx: TestMx;
let gw: RunningNode;
const dir = tempDir();

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST });
  gw = await startNode({ plugins: [fixture('verdicts.mjs')], mx: mx.address }, dir);
});

afterAll(async () => {
  await gw?.stop();
  await mx?.close();
  await removeDir(dir);
});

describe('verdicts on the wire', () => {
  it('connect: reject replaces the greeting and ends the session', async () => {
    const c = await RawSmtp.open(gw.port, { localAddress: '127.0.0.66' });
    expect(wire(await c.read())).toBe('554 5.7.1 Your network is not welcome');
    c.close();
  });

  it('mail: defer answers MAIL FROM with the exact code and enhanced code', async () => {
    const c = await client(gw.port);
    expect(wire(await c.cmd('MAIL FROM:<greylist@app.test>'))).toBe('450 4.7.1 Sender greylisted, try again later');
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    c.close();
  });

  it('rcpt: next and accept take the recipient, reject and defer refuse only that recipient', async () => {
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<reject@example.net>'))).toBe('550 5.1.1 No such user here');
    expect(wire(await c.cmd('RCPT TO:<defer@example.net>'))).toBe('452 4.2.2 Mailbox full');
    expect((await c.cmd('RCPT TO:<accept@example.net>'))?.code).toBe(250);
    expect((await c.cmd('RCPT TO:<plain@example.net>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    c.write(`${message({ subject: 'rcpt verdicts' })}.\r\n`);
    expect((await c.read())?.code).toBe(250);
    c.close();
    const [got] = (await mx.waitFor(1)).filter((m) => m.raw.includes('Subject: rcpt verdicts'));
    expect([...(got?.rcpts ?? [])].sort()).toEqual(['accept@example.net', 'plain@example.net']);
  });

  it('rcpt: drop accepts the recipient, never delivers it, and reports it as suppressed', async () => {
    const suppressed: string[] = [];
    gw.node.plugins.outcomes.on('suppressed', (e) => suppressed.push(e.recipient));
    const c = await client(gw.port);
    expect((await c.cmd('MAIL FROM:<app@app.test>'))?.code).toBe(250);
    expect(wire(await c.cmd('RCPT TO:<drop@example.net>'))).toMatch(/^250 /);
    expect((await c.cmd('RCPT TO:<kept@example.net>'))?.code).toBe(250);
    expect((await c.cmd('DATA'))?.code).toBe(354);
    c.write(`${message({ subject: 'rcpt drop' })}.\r\n`);
    expect((await c.read())?.code).toBe(250);
    c.close();
    await mx.waitUntil((m) => m.messages.some((x) => x.raw.includes('Subject: rcpt drop')));
    const got = mx.messages.filter((m) => m.raw.includes('Subject: rcpt drop'));
    expect(got.flatMap((m) => m.rcpts)).toEqual(['kept@example.net']);
    expect(suppressed).toEqual(['drop@example.net']);
  });

  it('data: reject refuses the message at the end of DATA; nothing is delivered', async () => {
    const c = await client(gw.port);
    const r = await c.send('app@app.test', ['someone@example.net'], message({ subject: 'reject-data' }));
    expect(wire(r)).toBe('554 5.6.0 Content refused');
    c.close();
    expect(mx.messages.some((m) => m.raw.includes('Subject: reject-data'))).toBe(false);
  });

  it('data: drop answers 250 and delivers nothing', async () => {
    const before = mx.messages.length;
    const c = await client(gw.port);
    const r = await c.send('app@app.test', ['someone@example.net'], message({ subject: 'drop-data' }));
    expect(r?.code).toBe(250);
    // A message sent after it arrives; the dropped one never does.
    expect((await c.send('app@app.test', ['someone@example.net'], message({ subject: 'after drop' })))?.code).toBe(250);
    c.close();
    await mx.waitUntil((m) => m.messages.some((x) => x.raw.includes('Subject: after drop')));
    expect(mx.messages.slice(before).some((m) => m.raw.includes('Subject: drop-data'))).toBe(false);
  });
});
