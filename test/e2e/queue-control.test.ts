// Queue control (issue 17) end to end: a test MX that refuses one domain (451), the
// admin API's queue views, each action with its selectors, the 400s, and scheduled send.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { relayConfig, startGateway, type TestGateway } from '../support/gateway.js';
import { startTestMx, type TestMx } from '../support/test-mx.js';
import { freePort } from '../support/ports.js';
import { RawSmtp, message } from '../support/smtp-client.js';
import { readEvents } from '../support/feedback.js';

const TOKEN = 'queue-token-0123456789';
const MX_HOST = '127.0.0.70';
let mx: TestMx;
let gw: TestGateway;
let admin: string;
let blocked = true;

const extra = `[queue]
retry = ["1h"]
[events]
file = "\${DIR}/events.log"
[sources.srcb]
ip = "127.0.0.72"
ehlo = "srcb.sluice.test"
[pools.backup]
sources = ["srcb"]
`;

beforeAll(async () => {
  mx = await startTestMx({ host: MX_HOST, rejectRcpt: (rcpt) => (blocked && rcpt.endsWith('@blocked.test') ? { code: 451, message: '4.7.0 Try again later' } : null) });
  const port = await freePort();
  admin = `http://127.0.0.1:${port}`;
  gw = await startGateway(relayConfig({ mx: mx.address, source: { name: 'srca', ip: '127.0.0.71' }, admin: { port, token: TOKEN } }, extra));
});
afterAll(async () => {
  await gw?.stop();
  await mx?.close();
});

async function send(from: string, rcpts: string[], headers: string[] = []): Promise<{ code: number | undefined; text: string | undefined }> {
  const c = await RawSmtp.open(gw.port(), { host: '127.0.0.1' });
  await c.read();
  await c.cmd('EHLO app.test');
  const r = await c.send(from, rcpts, message({ from, to: rcpts[0] ?? '', headers }));
  c.close();
  return { code: r?.code, text: r?.text };
}

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

type Group = { key: string; messages: number; recipients: number; ready: number; deferred: number; held: number; scheduled: number; in_flight: number; oldest_s: number; top_reply: string | null };
async function group(by: string, key: string): Promise<Group | undefined> {
  const r = await api('GET', `/api/queue?by=${by}`);
  return (r.json['groups'] as Group[]).find((g) => g.key === key);
}
const act = (action: string, body: unknown) => api('POST', `/api/queue/${action}`, body);
const events = () => readEvents(join(gw.dir, 'events.log'));

test('the queue views show deferred mail by domain, with its last reply, and page through it', async () => {
  await send('app@ok.test', ['a1@blocked.test', 'a2@blocked.test'], ['X-Campaign-ID: c1']);
  await send('app@ok.test', ['b1@blocked.test'], ['X-Campaign-ID: c1']);
  await send('app@ok.test', ['ok1@ok.test']);
  await mx.waitFor(1);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.deferred, { timeout: 10_000 }).toBe(3);
  const g = (await group('domain', 'blocked.test')) as Group;
  expect(g).toMatchObject({ messages: 2, recipients: 3, ready: 0, held: 0, scheduled: 0, in_flight: 0 });
  expect(g.top_reply).toContain('4.7.0');
  const summary = await api('GET', '/api/queue?by=campaign');
  expect(summary.json).toMatchObject({ by: 'campaign', nodes: [gw.node.config.node.id] });
  expect(await group('domain', 'ok.test')).toBeUndefined();
  const page1 = await api('GET', '/api/queue/messages?domain=blocked.test&limit=1');
  const rows = page1.json['messages'] as { queue_id: string; attempts: number; next_attempt: string; sender: string; last_reply: string }[];
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ attempts: 1, sender: 'app@ok.test' });
  expect(Date.parse(rows[0]?.next_attempt ?? '')).toBeGreaterThan(Date.now() + 50 * 60_000);
  const page2 = await api('GET', `/api/queue/messages?domain=blocked.test&limit=1&after=${encodeURIComponent(String(page1.json['next']))}`);
  const rows2 = page2.json['messages'] as { queue_id: string }[];
  expect(rows2).toHaveLength(1);
  expect(rows2[0]?.queue_id).not.toBe(rows[0]?.queue_id);
  const life = await api('GET', `/api/messages/${rows[0]?.queue_id}`);
  expect((life.json['events'] as { event: string }[]).map((e) => e.event)).toEqual(expect.arrayContaining(['queued', 'deferred']));
});

test('bad input is a 400 naming what is wrong', async () => {
  const cases: [string, unknown, RegExp][] = [
    ['bounce', { selector: { colour: 'red' } }, /unknown key "colour"/],
    ['bounce', { selector: {} }, /selector is empty/],
    ['cancel', {}, /selector is empty/],
    ['rebind', { selector: { domain: 'blocked.test' }, pool: 'nope' }, /unknown pool "nope"/],
    ['hold', { selector: { domain: 'blocked.test' }, duration: 'soon' }, /duration/],
    ['suspend', { selector: { domain: 'blocked.test' }, duration: 'soon' }, /duration/],
    ['retry', { selector: { domain: 'blocked.test' }, duration: '1h' }, /"duration" applies to hold \(suspend\) and rebind only/],
    ['explode', { selector: { domain: 'blocked.test' } }, /unknown queue action "explode" \(known: hold, lift, retry, bounce, cancel, rebind; older names: suspend, resume\)/],
  ];
  for (const [action, body, why] of cases) {
    const r = await act(action, body);
    expect(r.status, action).toBe(400);
    expect((r.json['error'] as { message: string }).message).toMatch(why);
  }
  expect((await api('GET', '/api/queue?by=colour')).status).toBe(400);
  expect((await api('GET', '/api/queue/messages?state=lost')).status).toBe(400);
});

test('every selector key matches (dry run counts, changes nothing)', async () => {
  const id = ((await api('GET', '/api/queue/messages?domain=blocked.test&limit=1')).json['messages'] as { queue_id: string; provider: string; recipients: string[] }[])[0];
  const selectors: [Record<string, string>, number][] = [
    [{ domain: 'blocked.test' }, 3],
    [{ campaign: 'c1' }, 3],
    [{ sender: 'APP@ok.test' }, 3],
    [{ pool: 'transactional' }, 3],
    [{ source: 'srca' }, 3],
    [{ class: 'transactional' }, 3],
    [{ provider: id?.provider ?? '' }, 3],
    [{ queue_id: id?.queue_id ?? '' }, id?.recipients.length ?? -1],
    [{ domain: 'blocked.test', campaign: 'other' }, 0],
  ];
  for (const [selector, rcpts] of selectors) {
    const r = await act('bounce', { selector, dry_run: true });
    expect(r.status).toBe(200);
    expect(r.json, JSON.stringify(selector)).toMatchObject({ action: 'bounce', dry_run: true, recipients: rcpts, nodes: [{ node: gw.node.config.node.id, recipients: rcpts }] });
  }
  expect((await group('domain', 'blocked.test'))?.deferred).toBe(3);
});

test('hold holds queued and later mail (retry does not send it), lift releases it', async () => {
  const r = await act('hold', { selector: { domain: 'blocked.test' }, duration: '10m' });
  expect(r.json).toMatchObject({ action: 'hold', messages: 2, recipients: 3 });
  expect((await group('domain', 'blocked.test'))?.held).toBe(3);
  const rules = (await api('GET', '/api/queue/rules')).json['rules'] as { kind: string; selector: unknown; until: string }[];
  expect(rules).toMatchObject([{ kind: 'hold', selector: { domain: 'blocked.test' } }]);
  await send('app@ok.test', ['late@blocked.test']);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.held).toBe(4);
  blocked = false;
  const before = mx.messages.length;
  await act('retry', { selector: { domain: 'blocked.test' } });
  await new Promise((res) => setTimeout(res, 1500));
  expect(mx.messages.length).toBe(before);
  const lifted = await act('lift', { selector: { domain: 'blocked.test' } });
  expect(lifted.json).toMatchObject({ action: 'lift', recipients: 4 });
  expect((await api('GET', '/api/queue/rules')).json['rules']).toEqual([]);
  await act('retry', { selector: { domain: 'blocked.test' } });
  await mx.waitUntil((m) => m.messages.filter((x) => x.rcpts.some((r) => r.endsWith('@blocked.test'))).length >= 3, 10_000);
  await expect.poll(async () => group('domain', 'blocked.test')).toBeUndefined();
  await expect.poll(() => events().some((e) => e.event === 'queue_action' && e['action'] === 'hold' && String(e['by']).includes('token:'))).toBe(true);
});

test('the older names suspend and resume still hold and lift: the answer names the action asked, the rule and the event say hold', async () => {
  blocked = true;
  await send('app@ok.test', ['old1@blocked.test']);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.deferred, { timeout: 10_000 }).toBe(1);
  const r = await act('suspend', { selector: { domain: 'blocked.test' } });
  expect(r).toMatchObject({ status: 200, json: { action: 'suspend', messages: 1, recipients: 1 } });
  expect((await group('domain', 'blocked.test'))?.held).toBe(1);
  expect((await api('GET', '/api/queue/rules')).json['rules']).toMatchObject([{ kind: 'hold', selector: { domain: 'blocked.test' }, until: null }]);
  const resumed = await act('resume', { selector: { domain: 'blocked.test' } });
  expect(resumed).toMatchObject({ status: 200, json: { action: 'resume', recipients: 1 } });
  expect((await api('GET', '/api/queue/rules')).json['rules']).toEqual([]);
  expect((await group('domain', 'blocked.test'))?.deferred).toBe(1);
  // Polled: the event file is written after the answer, a moment later on a busy host.
  await expect.poll(() => events().filter((e) => e.event === 'queue_action').map((e) => e['action']).slice(-2)).toEqual(['hold', 'lift']);
  blocked = false;
  await act('retry', { selector: { domain: 'blocked.test' } });
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('old1@blocked.test')), 10_000);
  await expect.poll(async () => group('domain', 'blocked.test')).toBeUndefined();
});

test('bounce by campaign: a bounced outcome (reason admin) and one DSN per message; cancel by sender: no DSN', async () => {
  blocked = true;
  await send('app@ok.test', ['x1@blocked.test', 'x2@blocked.test'], ['X-Campaign-ID: c2']);
  await send('other@ok.test', ['y1@blocked.test']);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.deferred, { timeout: 10_000 }).toBe(3);
  const dsns = () => mx.messages.filter((m) => m.mailFrom === '');
  const before = dsns().length;
  const b = await act('bounce', { selector: { campaign: 'c2' } });
  expect(b.json).toMatchObject({ messages: 1, recipients: 2 });
  await mx.waitUntil(() => dsns().length === before + 1, 10_000);
  expect(dsns().at(-1)?.rcpts).toEqual(['app@ok.test']);
  expect(dsns().at(-1)?.raw.toString()).toContain('bounced by an operator');
  const c = await act('cancel', { selector: { sender: 'other@ok.test' } });
  expect(c.json).toMatchObject({ messages: 1, recipients: 1 });
  await expect.poll(() => events().filter((e) => e.event === 'cancelled').map((e) => e['recipient'])).toEqual(['y1@blocked.test']);
  expect(events().filter((e) => e.event === 'bounced').map((e) => e['recipient']).sort()).toEqual(['x1@blocked.test', 'x2@blocked.test']);
  await new Promise((res) => setTimeout(res, 1000));
  expect(dsns().length).toBe(before + 1);
  expect(await group('domain', 'blocked.test')).toBeUndefined();
});

test('rebind moves mail to another pool: it leaves from that pool\'s source', async () => {
  await send('app@ok.test', ['z1@blocked.test']);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.deferred, { timeout: 10_000 }).toBe(1);
  expect(mx.stats('127.0.0.71').connections).toBeGreaterThan(0);
  const r = await act('rebind', { selector: { domain: 'blocked.test' }, pool: 'backup' });
  expect(r.json).toMatchObject({ action: 'rebind', recipients: 1 });
  blocked = false;
  await act('retry', { selector: { domain: 'blocked.test' } });
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('z1@blocked.test')), 10_000);
  expect(mx.messages.find((x) => x.rcpts.includes('z1@blocked.test'))?.peerIp).toBe('127.0.0.72');
  await act('lift', { all: true });
});

test('X-Sluice-Send-At holds a message until then (scheduled, header stripped); too far ahead is 550 5.7.1', async () => {
  const far = await send('app@ok.test', ['far@ok.test'], [`X-Sluice-Send-At: ${new Date(Date.now() + 8 * 86_400_000).toUTCString()}`]);
  expect(far.code).toBe(550);
  expect(far.text).toMatch(/^5\.7\.1 /);
  const at = Date.now() + 3000;
  expect((await send('app@ok.test', ['later@ok.test'], [`X-Sluice-Send-At: ${new Date(at).toISOString()}`])).code).toBe(250);
  expect((await group('domain', 'ok.test'))?.scheduled).toBe(1);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('later@ok.test')), 10_000);
  const got = mx.messages.find((x) => x.rcpts.includes('later@ok.test'));
  expect(got?.at).toBeGreaterThanOrEqual(at);
  expect((got?.at ?? 0) - at).toBeLessThan(1000);
  expect(got?.raw.toString()).not.toMatch(/x-sluice-send-at/i);
});

test('scheduled mail and holds survive a restart; scheduled mail leaves on time', async () => {
  const at = Date.now() + 4000;
  expect((await send('app@ok.test', ['restart@ok.test'], [`X-Sluice-Send-At: ${new Date(at).toISOString()}`])).code).toBe(250);
  blocked = true;
  await send('app@ok.test', ['kept@blocked.test']);
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.deferred, { timeout: 10_000 }).toBe(1);
  await act('hold', { selector: { domain: 'blocked.test' }, duration: '1h' });
  await gw.stop();
  gw = await startGateway(gw.configText, gw.dir);
  expect((await group('domain', 'ok.test'))?.scheduled).toBe(1);
  const kept = (await api('GET', '/api/queue/rules')).json['rules'] as { kind: string; selector: unknown; pool: string | null }[];
  expect(kept).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'hold', selector: { domain: 'blocked.test' } }), expect.objectContaining({ kind: 'rebind', pool: 'backup' })]));
  await expect.poll(async () => (await group('domain', 'blocked.test'))?.held, { timeout: 10_000 }).toBe(1);
  await mx.waitUntil((m) => m.messages.some((x) => x.rcpts.includes('restart@ok.test')), 10_000);
  const got = mx.messages.find((x) => x.rcpts.includes('restart@ok.test'));
  expect(got?.at).toBeGreaterThanOrEqual(at);
  expect((got?.at ?? 0) - at).toBeLessThan(1000);
});
