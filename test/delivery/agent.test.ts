// The delivery agent (delivery/agent.ts) against hand-written fakes of its ports
// (delivery/agent-ports.ts): a ready queue, a scheduler that records what it is told, a
// picker that grants one source, and shaping with no limits. The remote side is the
// recording test MX on loopback, so the sessions are real SMTP.
import { createServer, type AddressInfo, type Server } from 'node:net';
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
  tryNow = 0;
  readonly settled: { id: string; results: readonly Settled[]; via: Via }[] = [];
  readonly blocked: { retryMs: number; reason: string }[] = [];
  /** Lease keys given back, per session. */
  readonly releases: string[][] = [];
  readonly deferred: string[] = [];
  readonly deferredWith: Response[] = [];
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
  defer(_item: QueueItem, rcpts: readonly string[], response: Response): void {
    this.deferred.push(...rcpts);
    this.deferredWith.push(response);
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

/** A site no SMTP server answers at: it takes each connection and drops it at once, and counts them. */
async function deadSite(): Promise<{ hosts: MxHost[]; connections: () => number }> {
  let n = 0;
  const server: Server = createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dead.push(server);
  const { port } = server.address() as AddressInfo;
  return { hosts: [{ name: 'mx.example.net', priority: 10, addresses: ['127.0.0.1'], port }], connections: () => n };
}

const dead: Server[] = [];
afterEach(async () => {
  await Promise.all(dead.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('a site that answers no connection (Postfix\'s dead destination)', () => {
  function runner(doc: Record<string, unknown> = {}) {
    const clock = new FakeClock();
    const log = recordingLog();
    const runSession = createSessionRunner<SessionLimits, FakeQueue>({
      config: config(doc),
      spool: { readBody: () => Promise.resolve(Buffer.from('Subject: hi\r\n\r\nhello\r\n')) },
      state: { throttle: { renew: () => Promise.resolve(true), release: () => Promise.resolve(), take: () => Promise.resolve({ ok: true }) } },
      picker: picker(granted),
      shaping: shaping(),
      clock,
      log,
    });
    const suspensions = () => log.lines.filter((l) => (l.obj as { event?: string }).event === 'connect_failed').map((l) => (l.obj as { suspended_ms?: number }).suspended_ms);
    return { runSession, clock, suspensions };
  }

  it('defers new mail for it at once, without a connection, for 1 s, then 2 s after the next failure; a connection that opens ends it', async () => {
    const site = await deadSite();
    const r = runner();
    const sched = new FakeScheduler();

    await r.runSession(new FakeQueue(site.hosts, [item('d1', ['a@example.net'])]), sched);
    expect(site.connections()).toBe(1);
    expect(sched.settled.flatMap((s) => s.results.map((x) => [x.rcpt, x.kind, x.response.enhanced]))).toEqual([['a@example.net', 'deferred', '4.4.1']]);
    expect(r.suspensions()).toEqual([1_000]);

    // Within the second: deferred with the reason, and no connection opened.
    r.clock.advance(999);
    await r.runSession(new FakeQueue(site.hosts, [item('d2', ['b@example.net', 'c@example.net']), item('d3', ['d@example.net'])]), sched);
    expect(site.connections()).toBe(1);
    expect(sched.deferred).toEqual(['b@example.net', 'c@example.net', 'd@example.net']);
    expect(sched.deferredWith[0]?.code).toBe(451);
    expect(sched.deferredWith[0]?.enhanced).toBe('4.4.1');
    expect(sched.deferredWith[0]?.text).toMatch(/^delivery temporarily suspended: 451 4\.4\.1 connection failed: /);
    expect(sched.releases).toHaveLength(1); // no source was taken for it either

    // After it: tried again; a second failure suspends it for twice as long.
    r.clock.advance(1);
    await r.runSession(new FakeQueue(site.hosts, [item('d4', ['e@example.net'])]), sched);
    expect(site.connections()).toBe(2);
    expect(r.suspensions()).toEqual([1_000, 2_000]);
    r.clock.advance(1_999);
    await r.runSession(new FakeQueue(site.hosts, [item('d5', ['f@example.net'])]), sched);
    expect(site.connections()).toBe(2);

    // The site answers again (same pool and site, a live MX): delivered, and the memory is gone.
    r.clock.advance(1);
    const live = await mx({});
    await r.runSession(new FakeQueue(live, [item('d6', ['g@example.net'])]), sched);
    expect(mxs[0]?.messages.map((m) => m.rcpts)).toEqual([['g@example.net']]);
    await r.runSession(new FakeQueue(site.hosts, [item('d7', ['h@example.net'])]), sched);
    expect(site.connections()).toBe(3);
    expect(r.suspensions()).toEqual([1_000, 2_000, 1_000]);
  });

  it('forgets every suspension when an operator asks for mail to be tried now (flush, retry)', async () => {
    const site = await deadSite();
    const r = runner();
    const sched = new FakeScheduler();
    await r.runSession(new FakeQueue(site.hosts, [item('f1', ['a@example.net'])]), sched);
    await r.runSession(new FakeQueue(site.hosts, [item('f2', ['b@example.net'])]), sched);
    expect(site.connections()).toBe(1);
    sched.tryNow++;
    await r.runSession(new FakeQueue(site.hosts, [item('f3', ['c@example.net'])]), sched);
    expect(site.connections()).toBe(2);
    // Forgotten, not only lifted once: the failure after it starts again at 1 s.
    expect(r.suspensions()).toEqual([1_000, 1_000]);
  });

  it('never suspends a site for longer than the first retry interval', async () => {
    const site = await deadSite();
    const r = runner({ queue: { retry: ['1s', '5m'] } });
    const sched = new FakeScheduler();
    for (let i = 0; i < 3; i++) {
      await r.runSession(new FakeQueue(site.hosts, [item(`r${i}`, [`x${i}@example.net`])]), sched);
      r.clock.advance(1_000);
    }
    expect(site.connections()).toBe(3);
    expect(r.suspensions()).toEqual([1_000, 1_000, 1_000]);
  });

  it('is not suspended by a server that answers with a 4xx greeting (that is a busy server: the queue backs off instead)', async () => {
    const hosts = await mx({ onConnect: () => ({ code: 421, message: '4.7.0 Too many connections' }) });
    const r = runner();
    const sched = new FakeScheduler();
    await r.runSession(new FakeQueue(hosts, [item('g1', ['a@example.net'])]), sched);
    expect(r.suspensions()).toEqual([undefined]);
    expect(sched.blocked[0]?.reason).toMatch(/^busy greeting: 421/);
  });
});
