// A provider's connect_timeout and idle_timeout are the ones a session uses: an MX that
// accepts the TCP connection but never greets is given up after connect_timeout (not the
// 30 s default), and an idle session is closed after idle_timeout (not the 5 s default).
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { TestMx } from '../support/test-mx.js';
import { nodeConfig, setupShaping, startNode, submit, type Shaping, type ShapingNode } from './harness.js';

let env: Shaping;
let mx: TestMx;
let mute: Server;
const muted = new Set<Socket>();
let gw: ShapingNode;

beforeAll(async () => {
  env = await setupShaping({
    mx: { host: '127.0.0.80' },
    zone: {
      'mx.quick.test': { a: ['127.0.0.80'] },
      'mx.mute.test': { a: ['127.0.0.81'] },
      'fast.example': { mx: [{ priority: 10, exchange: 'mx.quick.test' }] },
      'silent.example': { mx: [{ priority: 10, exchange: 'mx.mute.test' }] },
    },
  });
  mx = env.mx;
  // Same port on another address: accepts, then says nothing.
  mute = createServer((s) => {
    muted.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => mute.listen(mx.port, '127.0.0.81', () => r()));
  gw = await startNode(
    nodeConfig(env, {
      sources: { a: { ip: '127.0.0.82' } },
      pools: { transactional: { sources: ['a'] } },
      providers: { quick: { mx_suffixes: ['.quick.test'], idle_timeout: '300ms' }, mute: { mx_suffixes: ['.mute.test'], connect_timeout: '400ms' } },
    }),
  );
});

afterAll(async () => {
  await gw?.stop();
  await env?.close();
  for (const s of muted) s.destroy();
  await new Promise((r) => mute.close(r));
});

test('connect_timeout of the provider ends a silent connection early', async () => {
  const t0 = Date.now();
  await submit(gw.port, [{ to: ['x@silent.example'] }]);
  const deferred = await gw.waitForEvent('deferred', (l) => l['rcpt'] === 'x@silent.example', 10_000);
  expect(Date.now() - t0).toBeLessThan(3_000);
  expect(String(deferred['reply'])).toMatch(/^451 4\.4\.2 timed out/);
});

test('idle_timeout of the provider closes an idle session early', async () => {
  await submit(gw.port, [{ to: ['y@fast.example'] }]);
  await mx.waitFor(1, 5_000);
  const delivered = Date.now();
  await mx.waitUntil((m) => m.stats('127.0.0.82').connections > 0 && m.stats('127.0.0.82').current === 0, 4_000);
  expect(Date.now() - delivered).toBeLessThan(2_500);
});
