// Cluster-fair weights, decided one message at a time (gateway/cluster/handoff.ts with
// pool-shares.ts): the decisions of n1 for a pool of one source per node, its peers'
// entries as their heartbeats publish them, on a fake clock.
import { expect, test } from 'vitest';
import { pino } from 'pino';
import type { Config } from '../../gateway/config/schema.js';
import { Handoff } from '../../gateway/cluster/handoff.js';
import { PoolShares } from '../../gateway/cluster/pool-shares.js';
import type { Placement, QueueItem } from '../../gateway/queue/types.js';
import type { Envelope } from '../../gateway/spool/types.js';
import type { NodeInfo } from '../../gateway/state/types.js';

const config = {
  pools: { tx: { sources: ['a', 'b', 'c'] } },
  sources: { a: { node: 'n1' }, b: { node: 'n2' }, c: { node: 'n3' } },
} as unknown as Config;

function fleetOfThree(peerEntries: number) {
  let now = 1_000_000;
  const shares = new PoolShares('n1', () => now);
  const node = (id: string): NodeInfo => ({ id, address: '127.0.0.1', startedAt: 0, version: 'test', cluster: `127.0.0.1:1${id}` });
  const counts = (at: number, tx: number) => ({ at, pools: { tx } });
  // Two publications with the same counts: the peers' traffic has stopped (no extrapolation).
  shares.observe(['n2', 'n3'], new Map([['n2', counts(now - 2_000, peerEntries)], ['n3', counts(now - 2_000, peerEntries)]]));
  shares.observe(['n2', 'n3'], new Map([['n2', counts(now - 1_000, peerEntries)], ['n3', counts(now - 1_000, peerEntries)]]));
  const live = [node('n1'), node('n2'), node('n3')];
  /** A publication: n1 publishes its counts, the peers publish `peers` each (default: as many as n1), and n1 reads them all. */
  const beat = (peers?: number) => {
    const mine = shares.published();
    peers ??= mine.pools['tx'] ?? 0;
    shares.observe(['n1', 'n2', 'n3'], new Map([['n1', mine], ['n2', counts(now, peers)], ['n3', counts(now, peers)]]));
    return mine.pools['tx'] ?? 0;
  };
  const handoff = new Handoff<string>({
    self: 'n1',
    config: () => config,
    standing: () => ({ kind: 'usable' }),
    poolHeld: () => false,
    peers: { peer: (id) => ({ id, address: `127.0.0.1:1${id}` }), peers: () => [] },
    live: () => live,
    shares,
    send: () => Promise.reject(new Error('not sent in this test')),
    readBody: () => Promise.reject(new Error('not read in this test')),
    log: pino({ level: 'silent' }),
    now: () => now,
  });
  let seq = 0;
  const item = (fromPeer?: string): QueueItem => {
    const id = `Q${++seq}`;
    const envelope = {
      id,
      mailFrom: 'app@example.com',
      rcpts: ['x@example.net'],
      ...(fromPeer ? { peer: { origin: fromPeer, from: fromPeer, queueId: id, hops: 1, trace: `${fromPeer}/${id}`, attempts: {} } } : {}),
    } as unknown as Envelope;
    return { envelope, domain: 'example.net', rcpts: ['x@example.net'], attempts: 0, nextAt: 0, readyAt: 0 };
  };
  const placed = { here: 0, n2: 0, n3: 0 };
  const place = (fromPeer?: string): Placement => {
    now += 1;
    const p = handoff.place(item(fromPeer), 'tx', 'bigmail');
    if (p.kind === 'here') placed.here++;
    else if (p.kind === 'peer' && (p.node === 'n2' || p.node === 'n3')) placed[p.node]++;
    return p;
  };
  const tick = (ms: number) => (now += ms);
  return { place, placed, beat, tick };
}

test('without mail from peers, all traffic into n1 leaves a third from each node', () => {
  const { place, placed } = fleetOfThree(0);
  for (let i = 0; i < 600; i++) place();
  // The first MIN_ENTERED (20) are kept before there is a basis to move mail.
  expect(placed.here).toBeGreaterThanOrEqual(199);
  expect(placed.here).toBeLessThanOrEqual(201);
  expect(Math.abs(placed.n2 - placed.n3)).toBeLessThanOrEqual(1);
});

test('traffic entering every node evenly stays where it entered, heartbeats and all', () => {
  // 100 messages a second into each node for 10 s; heartbeats every second. n1 reads its own
  // count from the registry as it reads its peers' (as old as theirs), so a burst's first
  // second does not make it look busier than them.
  const { place, placed, beat, tick } = fleetOfThree(0);
  beat();
  for (let s = 1; s <= 10; s++) {
    for (let i = 0; i < 100; i++) {
      place();
      tick(9);
    }
    // The peers entered as many as n1 did.
    beat();
  }
  expect(placed.here).toBe(1000);
});

test('a burst into n1 alone after even traffic leaves a third on n1, counts going round every 200 ms', () => {
  // The cluster check's shape: 100 into each node, then 600 into n1 alone in 2 s. With the
  // counts on a 1 s heartbeat n1 kept 300 of the 600 (all it took before its count was out).
  const { place, placed, beat, tick } = fleetOfThree(0);
  beat();
  for (let i = 0; i < 100; i++) {
    place();
    tick(9);
  }
  beat(); // the peers took 100 each too
  const before = placed.here;
  for (let turn = 0; turn < 10; turn++) {
    for (let i = 0; i < 60; i++) {
      place();
      tick(2);
    }
    beat(100); // the peers took nothing more
  }
  const kept = placed.here - before;
  // A third of the 600 is 200; within 10 %.
  expect(kept).toBeGreaterThanOrEqual(180);
  expect(kept).toBeLessThanOrEqual(220);
  expect(Math.abs(placed.n2 - placed.n3)).toBeLessThanOrEqual(1);
});
