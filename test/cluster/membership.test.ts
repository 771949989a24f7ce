// Membership on one registry (the embedded one, shared by several Membership objects as
// Redis is by several nodes) and a fake clock: when a node counts as down, when it is back,
// and that a Redis outage or restart never makes a live node look down.
import { expect, test } from 'vitest';
import { Membership, type Member } from '../../gateway/cluster/membership.js';
import { EmbeddedNodeRegistry } from '../../gateway/state/embedded/node-registry.js';
import type { NodeInfo } from '../../gateway/state/types.js';
import { FakeClock } from '../support/fake-clock.js';

const FAILOVER = 10_000;
const quiet = { info: () => undefined, warn: () => undefined };

function fleet(ids: string[], expected: string[] = []) {
  const clock = new FakeClock();
  const registry = new EmbeddedNodeRegistry(clock);
  let healthy = true;
  const make = (id: string) =>
    new Membership({
      self: id,
      registry,
      clock,
      log: quiet,
      // Timers far away: the test beats and polls by hand.
      heartbeatMs: 3_600_000,
      failoverAfterMs: FAILOVER,
      info: (): NodeInfo => ({ id, address: `${id}.test`, startedAt: 0, version: 't' }),
      expected: () => expected,
      healthy: () => healthy,
    });
  const nodes = new Map(ids.map((id) => [id, make(id)]));
  return { clock, registry, nodes, setHealthy: (h: boolean) => (healthy = h), node: (id: string) => nodes.get(id) as Membership };
}

function watch(m: Membership) {
  const down: string[] = [];
  const up: string[] = [];
  m.onDown((x: Member) => down.push(x.id));
  m.onUp((i) => up.push(i.id));
  return { down, up };
}

test('a node silent for failover_after is down once; beating again it is back', async () => {
  const f = fleet(['n1', 'n2']);
  const n1 = f.node('n1');
  const n2 = f.node('n2');
  n1.start();
  n2.start();
  const seen = watch(n1);
  await n1.beat();
  await n2.beat();
  expect(n1.live().map((n) => n.id).sort()).toEqual(['n1', 'n2']);
  expect(n1.share()).toBe(0.5);

  // n2 stops beating; n1 keeps on.
  f.clock.advance(FAILOVER - 1);
  await n1.beat();
  expect(n1.isLive('n2')).toBe(true);
  f.clock.advance(1);
  await n1.beat();
  expect(n1.isLive('n2')).toBe(false);
  expect(seen.down).toEqual(['n2']);
  expect(n1.members().find((m) => m.id === 'n2')).toMatchObject({ live: false, downSince: f.clock.now() });
  expect(n1.share()).toBe(1);
  await n1.poll();
  expect(seen.down).toEqual(['n2']); // once

  await n2.beat();
  await n1.poll();
  expect(seen.up).toEqual(['n2']);
  expect(n1.members().find((m) => m.id === 'n2')).toMatchObject({ live: true, downSince: null });
});

test('no node is down while the registry cannot be trusted, nor for failover_after after it can', async () => {
  const f = fleet(['n1', 'n2']);
  const n1 = f.node('n1');
  n1.start();
  const seen = watch(n1);
  await f.node('n2').beat();
  f.clock.advance(FAILOVER - 1);
  await f.node('n2').beat();
  f.clock.advance(1); // settled
  await n1.beat();
  expect(n1.settled()).toBe(true);

  // Redis away: n2's beats do not arrive; the registry lapses it.
  f.setHealthy(false);
  f.clock.advance(FAILOVER + 5_000);
  await n1.beat();
  expect(seen.down).toEqual([]);
  expect(n1.settled()).toBe(false);

  // Redis back (empty, as after a restart): n1 beats at once, n2 not yet.
  f.setHealthy(true);
  await f.registry.leave('n2');
  await n1.beat();
  f.clock.advance(FAILOVER - 1);
  await n1.beat();
  expect(seen.down).toEqual([]);
  // n2 beats within the grace: it was never down, so no onUp either.
  await f.node('n2').beat();
  f.clock.advance(1);
  await n1.beat();
  expect(seen).toEqual({ down: [], up: [] });
  expect(n1.isLive('n2')).toBe(true);
});

test('a node the config names but that never beats is down once membership settles', async () => {
  const f = fleet(['n1'], ['n1', 'n3']);
  const n1 = f.node('n1');
  n1.start();
  const seen = watch(n1);
  await n1.beat();
  expect(n1.members().map((m) => [m.id, m.live])).toEqual([['n1', true], ['n3', false]]);
  expect(seen.down).toEqual([]);
  f.clock.advance(FAILOVER);
  await n1.beat();
  expect(seen.down).toEqual(['n3']);
});
