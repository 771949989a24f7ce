import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventRecord } from '../../gateway/observe/event-types.js';
import { Webhooks } from '../../gateway/observe/webhooks.js';
import { FakeClock } from '../support/fake-clock.js';
import { captureLog } from './admin-harness.js';
import { startWebhookReceiver as receiver, verifySignature as verify } from '../support/webhook-receiver.js';

function record(event: EventRecord['event'], n: number): EventRecord {
  return {
    event: event as 'delivered',
    at: new Date(Date.UTC(2026, 10, 1, 12, 0, n)).toISOString(),
    node: 'gw-1',
    queue_id: `Q${n}`,
    message_id: `<m${n}@example.test>`,
    recipient: `r${n}@gmail.test`,
    mail_from: 'app@example.test',
    class: 'transactional',
    pool: 'transactional',
    source: 'a',
    provider: 'gmail',
    mx: 'mx.gmail.test',
    reply: '250 ok',
    enhanced: '2.0.0',
    attempt: 1,
    campaign: null,
  };
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('webhooks', () => {
  it('posts batches of the chosen events, signed as documented', async () => {
    const r = await receiver();
    const clock = new FakeClock();
    const hooks = new Webhooks(
      [{ url: r.url, events: ['delivered', 'bounced'], secret: 'whsec-1', batch_size: 3 }],
      { linger_ms: 20 },
      { clock },
    );
    cleanup.push(() => hooks.close(), r.close);
    hooks.publish(record('queued', 0));
    for (let i = 1; i <= 4; i++) hooks.publish(record('delivered', i));
    hooks.publish(record('bounced', 5));
    await r.until(2);

    const now = Math.floor(clock.now() / 1000);
    const events: EventRecord[] = [];
    for (const req of r.requests) {
      expect(req.headers['content-type']).toBe('application/json');
      const sig = String(req.headers['x-sluice-signature']);
      expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(verify('whsec-1', sig, req.body, now)).toBe(true);
      expect(verify('other-secret', sig, req.body, now)).toBe(false);
      expect(verify('whsec-1', sig, req.body + ' ', now)).toBe(false);
      events.push(...(JSON.parse(req.body) as EventRecord[]));
    }
    expect(JSON.parse(r.requests[0]?.body ?? '[]')).toHaveLength(3);
    expect(events.map((e) => e.event)).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'bounced']);
    await vi.waitFor(() => expect(hooks.backlog()).toEqual([{ url: '0', backlog: 0 }]));
  });

  it('retries the same batch after a 500, with backoff', async () => {
    let calls = 0;
    const r = await receiver(() => (++calls === 1 ? 500 : 200));
    const { log, lines } = captureLog();
    const hooks = new Webhooks(
      [{ url: r.url, events: ['*'], secret: 's', batch_size: 10 }],
      { linger_ms: 10, backoff_base_ms: 30 },
      { log },
    );
    cleanup.push(() => hooks.close(), r.close);
    hooks.publish(record('delivered', 1));
    hooks.publish(record('deferred', 2));
    await r.until(2);
    const [first, second] = r.requests;
    expect(first?.body).toBe(second?.body);
    expect(first?.headers['x-sluice-batch-id']).toBe(second?.headers['x-sluice-batch-id']);
    expect(lines.some((l) => l.level === 'warn' && l.msg === 'webhook POST failed')).toBe(true);
    await vi.waitFor(() => expect(hooks.backlog()[0]?.backlog).toBe(0));
    expect(r.requests).toHaveLength(2);
  });

  it('keeps at most max_backlog events for a dead endpoint, dropping the oldest and counting them', async () => {
    let up = false;
    const r = await receiver(() => (up ? 200 : 503));
    const dropped: Array<[string, number]> = [];
    const hooks = new Webhooks(
      [{ url: r.url, events: ['*'], secret: 's', batch_size: 100, max_backlog: 10, name: 'crm' }],
      { linger_ms: 5, backoff_base_ms: 40, backoff_max_ms: 80 },
      { metrics: { webhookDropped: (url, n) => dropped.push([url, n]) } },
    );
    cleanup.push(() => hooks.close(), r.close);
    for (let i = 0; i < 25; i++) hooks.publish(record('delivered', i));
    expect(hooks.backlog()).toEqual([{ url: 'crm', backlog: 10 }]);
    expect(dropped.reduce((a, [, n]) => a + n, 0)).toBe(15);
    expect(dropped.every(([url]) => url === 'crm')).toBe(true);
    await r.until(1); // refused while down
    up = true;
    await r.until(2);
    const last = r.requests[r.requests.length - 1];
    const ids = (JSON.parse(last?.body ?? '[]') as Array<{ queue_id: string }>).map((e) => e.queue_id);
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `Q${i + 15}`));
  });

  it('drops a batch the endpoint rejects with a 4xx and moves on', async () => {
    let calls = 0;
    const r = await receiver(() => (++calls === 1 ? 400 : 200));
    const dropped: number[] = [];
    const hooks = new Webhooks(
      [{ url: r.url, events: ['*'], secret: 's', batch_size: 2 }],
      { linger_ms: 5 },
      { metrics: { webhookDropped: (_, n) => dropped.push(n) } },
    );
    cleanup.push(() => hooks.close(), r.close);
    for (let i = 0; i < 4; i++) hooks.publish(record('delivered', i));
    await r.until(2);
    expect(dropped).toEqual([2]);
    expect(JSON.parse(r.requests[1]?.body ?? '[]').map((e: { queue_id: string }) => e.queue_id)).toEqual(['Q2', 'Q3']);
  });

  it('rejects a webhook with an unknown event name or no secret', () => {
    expect(() => new Webhooks([{ url: 'http://127.0.0.1:1/', events: ['delivred'], secret: 's' }])).toThrow(/unknown event "delivred" \(known: .*source_held, source_lifted, provider_held, provider_lifted, pool_held, pool_lifted.*; older names still accepted: source_paused, source_resumed\)/);
    // The older hold names are names a webhook may still ask for.
    expect(() => new Webhooks([{ url: 'http://127.0.0.1:1/', events: ['source_paused', 'source_resumed'], secret: 's' }])).not.toThrow();
    expect(() => new Webhooks([{ url: 'http://127.0.0.1:1/', events: ['*'], secret: '' }])).toThrow(/secret/);
  });
});
