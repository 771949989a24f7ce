// The delivery agent (delivery/agent.ts) against hand-written fakes of its ports
// (delivery/agent-ports.ts): a ready queue, a scheduler that records what it is told, a
// picker that grants one source, and shaping with no limits. The remote side is the
// recording test MX on loopback, so the sessions are real SMTP.
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionRunner } from '../../gateway/delivery/agent.js';
import type { HoldRequest, PickResult, ReadyQueuePort, RuleHit, SchedulerPort, SessionLimits, Settled, ShapingPort, SourcePort } from '../../gateway/delivery/agent-ports.js';
import type { MxHost } from '../../gateway/delivery/mx-resolver.js';
import type { Response } from '../../gateway/delivery/response.js';
import type { QueueItem, Via } from '../../gateway/queue/types.js';
import { FakeClock } from '../support/fake-clock.js';
import { startTestMx, type TestMx, type TestMxOptions } from '../support/test-mx.js';
import { config, envelope, recordingLog } from '../queue/harness.js';

const provider: SessionLimits = { key: 'example', name: 'example', maxMessagesPerConnection: 100, connectTimeoutMs: 2_000, idleTimeoutMs: 10 };

class FakeQueue implements ReadyQueuePort<SessionLimits> {
  readonly pool = 'tx';
  readonly site = 'example.net';
  readonly provider = provider;
  greetingBackoffMs = 0;
  constructor(
    readonly hosts: readonly MxHost[],
    private readonly items: QueueItem[],
  ) {}
  next(): Promise<QueueItem | null> {
    return Promise.resolve(this.items.shift() ?? null);
  }
  drain(): QueueItem[] {
    return this.items.splice(0);
  }
}

/** Records the verdicts the agent reports, as the scheduler would receive them. */
class FakeScheduler implements SchedulerPort<FakeQueue> {
  readonly stopped = false;
  readonly generation = 0;
  readonly settled: { id: string; results: readonly Settled[]; via: Via }[] = [];
  readonly blocked: { retryMs: number; reason: string }[] = [];
  /** Lease keys given back, per session. */
  readonly releases: string[][] = [];
  readonly deferred: string[] = [];
  block(_rq: FakeQueue, retryMs: number, reason: string): void {
    this.blocked.push({ retryMs, reason });
  }
  postpone(): number {
    return 0;
  }
  putBack(): void {}
  served(): void {}
  shouldYield(): boolean {
    return false;
  }
  released(keys: readonly string[]): void {
    this.releases.push([...keys]);
  }
  settle(item: QueueItem, results: readonly Settled[], via: Via): void {
    this.settled.push({ id: item.envelope.id, results, via });
  }
  defer(_item: QueueItem, rcpts: readonly string[]): void {
    this.deferred.push(...rcpts);
  }
  final(): void {}
}

function picker(pick: PickResult): SourcePort<SessionLimits> {
  return { pick: () => Promise.resolve(pick), sourceHeld: () => false, poolHeld: () => false, leaseTtlMs: 60_000 };
}

const granted: PickResult = { kind: 'granted', grant: { source: { name: 'tx1', ip: '127.0.0.1', ehlo: 'out.test' }, lease: { id: 'l1', keys: ['conn:tx1:example'] }, pool: 'tx', overflowFrom: null } };

function shaping(rule: (response: Response) => RuleHit | null = () => null): ShapingPort<SessionLimits> & { holds: HoldRequest[] } {
  const holds: HoldRequest[] = [];
  return {
    holds,
    warmupTake: () => Promise.resolve(true),
    warmupGiveBack: () => Promise.resolve(),
    rateClaims: () => [],
    ruleFor: (_p, response) => rule(response),
    hold: (r) => void holds.push(r),
  };
}

function item(id: string, rcpts: string[]): QueueItem {
  return { envelope: envelope(id, 0, rcpts), domain: 'example.net', rcpts, attempts: 0, nextAt: 0, readyAt: 0 };
}

const mxs: TestMx[] = [];
afterEach(async () => {
  await Promise.all(mxs.splice(0).map((mx) => mx.close()));
});

async function mx(opts: TestMxOptions): Promise<MxHost[]> {
  const m = await startTestMx(opts);
  mxs.push(m);
  return [{ name: 'mx.example.net', priority: 10, addresses: [m.host], port: m.port }];
}

function run(s: ShapingPort<SessionLimits>, pick: PickResult = granted) {
  return createSessionRunner<SessionLimits, FakeQueue>({
    config: config(),
    spool: { readBody: () => Promise.resolve(Buffer.from('Subject: hi\r\n\r\nhello\r\n')) },
    state: { throttle: { renew: () => Promise.resolve(true), release: () => Promise.resolve(), take: () => Promise.resolve({ ok: true }) } },
    picker: picker(pick),
    shaping: s,
    clock: new FakeClock(),
    log: recordingLog(),
  });
}

describe('delivery agent, through its ports', () => {
  it('settles each recipient as the MX answered: delivered, deferred (452) and bounced (550), and gives its lease back', async () => {
    const hosts = await mx({ rejectRcpt: (rcpt) => (rcpt.startsWith('full@') ? { code: 452, message: '4.2.2 Mailbox full' } : rcpt.startsWith('gone@') ? { code: 550, message: '5.1.1 No such user' } : null) });
    const queue = new FakeQueue(hosts, [item('m1', ['ann@example.net', 'full@example.net', 'gone@example.net'])]);
    const sched = new FakeScheduler();
    await run(shaping())(queue, sched);

    expect(sched.settled).toHaveLength(1);
    const [s] = sched.settled;
    expect(s?.results.map((r) => [r.rcpt, r.kind, r.response.code])).toEqual([
      ['ann@example.net', 'delivered', 250],
      ['full@example.net', 'deferred', 452],
      ['gone@example.net', 'bounced', 550],
    ]);
    expect(s?.via).toEqual({ pool: 'tx', source: 'tx1', sourceIp: '127.0.0.1', provider: 'example', mx: 'mx.example.net' });
    expect(mxs[0]?.messages.map((m) => m.rcpts)).toEqual([['ann@example.net']]);
    expect(sched.releases).toEqual([['conn:tx1:example']]);
  });

  // `hold` and `hold_provider` are the response-rule actions; `suspend` and `suspend_provider` their older names.
  it.each([
    ['hold', { kind: 'source-provider', source: 'tx1', provider: 'example' }],
    ['suspend', { kind: 'source-provider', source: 'tx1', provider: 'example' }],
    ['hold_provider', { kind: 'provider', provider: 'example' }],
    ['suspend_provider', { kind: 'provider', provider: 'example' }],
  ] as const)('a response rule with action %s holds mail (%j) and defers the recipient instead of bouncing it', async (action, target) => {
    const hosts = await mx({ rejectRcpt: () => ({ code: 550, message: '5.7.1 Too much mail from your IP' }) });
    const queue = new FakeQueue(hosts, [item('m2', ['bob@example.net'])]);
    const sched = new FakeScheduler();
    const s = shaping((r) => (r.enhanced === '5.7.1' ? { action, durationMs: 60_000, match: '5.7.1' } : null));
    await run(s)(queue, sched);

    expect(sched.settled[0]?.results.map((r) => [r.rcpt, r.kind])).toEqual([['bob@example.net', 'deferred']]);
    expect(s.holds).toHaveLength(1);
    expect(s.holds[0]).toMatchObject({ target, provider: 'example', reason: 'provider_rule', by: 'response-rule', until: new FakeClock().now() + 60_000 });
  });

  it('blocks the queue with the picker\'s reason and opens no connection when no source is free', async () => {
    const hosts = await mx({});
    const queue = new FakeQueue(hosts, [item('m3', ['cy@example.net'])]);
    const sched = new FakeScheduler();
    await run(shaping(), { kind: 'wait', retryMs: 1_000, reason: 'pool tx: tx1 is at its connection limit for example', waitingFor: ['conn:tx1:example'] })(queue, sched);

    expect(sched.blocked).toEqual([{ retryMs: 1_000, reason: 'pool tx: tx1 is at its connection limit for example' }]);
    expect(sched.settled).toEqual([]);
    expect(mxs[0]?.peers().size).toBe(0);
  });
});
