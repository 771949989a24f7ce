import { mkdir, mkdtemp, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Observer } from '../../gateway/observe/observer.js';
import { EventLog } from '../../gateway/observe/events.js';
import type { EventRecord } from '../../gateway/observe/event-types.js';
import { Registry } from 'prom-client';
import { captureLog, outcomeEvent } from './admin-harness.js';
import { FakeClock } from '../support/fake-clock.js';

function warmup(n: number): EventRecord {
  return { event: 'warmup_exhausted', at: '2026-11-01T12:00:00.000Z', node: 'gw-1', source: `s${n}`, day: '2026-11-01', cap: n };
}

async function lines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('event log', () => {
  it('writes one JSON line per event with the outcome fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-events-'));
    const file = join(dir, 'sub', 'events.jsonl');
    const clock = new FakeClock();
    const { log } = captureLog();
    const obs = new Observer({ node: 'gw-1', registry: new Registry(), log, clock, events: { file } });
    obs.outcome('delivered', outcomeEvent({ queueId: 'Q42' }), 'spring');
    obs.outcome('bounced', outcomeEvent({ queueId: 'Q43', reply: '550 5.1.1 no such user', enhanced: '5.1.1' }), null);
    obs.held({ source: 'a', reason: 'bounce_rate', by: 'health', until: clock.now() + 60_000 });
    obs.lifted({ source: 'a', reason: 'admin', by: 'admin-api 127.0.0.1' });
    obs.warmupExhausted('c', '2026-11-01', 500);
    obs.held({ source: '*', provider: 'gmail', reason: 'provider_rule', by: 'response-rule', until: clock.now() + 60_000 });
    obs.lifted({ source: '*', provider: 'gmail', reason: 'provider_rule', by: 'response-rule' });
    obs.poolHold('pool_held', { pool: 'promo', reason: 'admin', by: 'admin-api 127.0.0.1' });
    obs.poolHold('pool_lifted', { pool: 'promo', reason: 'admin', by: 'admin-api 127.0.0.1' });
    await obs.close();

    const got = await lines(file);
    expect(got.map((l) => l.event)).toEqual(['delivered', 'bounced', 'source_held', 'source_lifted', 'warmup_exhausted', 'provider_held', 'provider_lifted', 'pool_held', 'pool_lifted']);
    expect(got[0]).toEqual({
      event: 'delivered',
      at: '2026-11-01T12:00:00.000Z',
      node: 'gw-1',
      queue_id: 'Q42',
      message_id: '<m1@example.test>',
      recipient: 'user@gmail.test',
      mail_from: 'app@example.test',
      class: 'transactional',
      pool: 'transactional',
      source: 'a',
      provider: 'gmail',
      mx: 'mx1.gmail.test',
      reply: '250 2.0.0 OK',
      enhanced: '2.0.0',
      attempt: 1,
      campaign: 'spring',
    });
    expect(got[2]).toMatchObject({ source: 'a', reason: 'bounce_rate', until: '2026-11-01T12:01:00.000Z', provider: null });
    expect(got[4]).toMatchObject({ source: 'c', day: '2026-11-01', cap: 500 });
    expect(got[5]).toMatchObject({ source: '*', provider: 'gmail', reason: 'provider_rule', until: '2026-11-01T12:01:00.000Z' });
    expect(got[7]).toEqual({ event: 'pool_held', at: '2026-11-01T12:00:00.000Z', node: 'gw-1', pool: 'promo', reason: 'admin', by: 'admin-api 127.0.0.1', until: null });
  });

  it('rotates by size: file → file.1 → … → file.<keep>, dropping the oldest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-events-'));
    const file = join(dir, 'events.jsonl');
    const lineBytes = Buffer.byteLength(JSON.stringify(warmup(100)) + '\n');
    const log = new EventLog({ file, max_size: lineBytes * 10, keep: 3 });
    // 55 lines of 10 per file: events, .1, .2, .3 kept; the two oldest files fall off.
    for (let i = 100; i < 155; i++) {
      log.publish(warmup(i));
      if (i % 7 === 0) await log.flush(); // several write batches, as under real traffic
    }
    await log.close();

    expect((await readdir(dir)).sort()).toEqual(['events.jsonl', 'events.jsonl.1', 'events.jsonl.2', 'events.jsonl.3']);
    for (const f of ['events.jsonl.1', 'events.jsonl.2', 'events.jsonl.3']) {
      expect((await stat(join(dir, f))).size).toBeLessThanOrEqual(lineBytes * 10);
    }
    const caps = async (f: string) => (await lines(join(dir, f))).map((l) => l.cap);
    expect(await caps('events.jsonl')).toEqual([150, 151, 152, 153, 154]);
    expect(await caps('events.jsonl.1')).toEqual(Array.from({ length: 10 }, (_, i) => 140 + i));
    expect(await caps('events.jsonl.3')).toEqual(Array.from({ length: 10 }, (_, i) => 120 + i));
  });

  it('never blocks: when the disk cannot keep up, lines beyond the buffer are dropped and counted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-events-'));
    const file = join(dir, 'events.jsonl');
    const counted: number[] = [];
    const lineBytes = Buffer.byteLength(JSON.stringify(warmup(100)) + '\n');
    const log = new EventLog(
      { file, max_size: 1024 * 1024, keep: 1, max_buffer: lineBytes * 20 },
      { metrics: { eventLogDropped: (n) => counted.push(n) } },
    );
    for (let i = 100; i < 150; i++) log.publish(warmup(i)); // all in one turn: the writer has not run yet
    expect(log.dropped).toBe(30);
    await log.close();
    expect(counted.reduce((a, b) => a + b, 0)).toBe(30);
    expect((await lines(file)).map((l) => l.cap)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
  });

  it('counts lines it could not write and keeps going', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-events-'));
    const file = join(dir, 'events.jsonl');
    await mkdir(file); // a directory where the file should be: every open fails, even as root
    const { log: logger, lines: logged } = captureLog();
    const log = new EventLog({ file, max_size: 1 << 20, keep: 1 }, { log: logger });
    log.publish(warmup(1));
    await log.flush();
    expect(log.dropped).toBe(1);
    expect(logged.some((l) => l.level === 'error' && l.msg === 'event log write failed')).toBe(true);
    await rmdir(file);
    log.publish(warmup(2));
    await log.close();
    expect((await lines(file)).map((l) => l.cap)).toEqual([2]);
  });
});
