/**
 * The setup of the client-limit tests (test/e2e/*limit*, per-ip-*, …): a node with one
 * relay listener open to 127.0.0.1/32 only (other loopback addresses are untrusted
 * clients), extra `[[listen]]` keys and tables, a test MX, and raw sessions that are
 * closed after the file.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Clock } from '../../gateway/state/types.js';
import { relayConfig, startGateway, type TestGateway } from './gateway.js';
import { metricValue } from './feedback.js';
import { RawSmtp, type Reply } from './smtp-client.js';
import { startTestMx, type TestMx } from './test-mx.js';

export interface LimitsEnv {
  readonly gw: TestGateway;
  readonly mx: TestMx;
  /** A session from `ip` (127.0.0.1 is trusted), with its greeting. */
  connect(ip: string): Promise<{ c: RawSmtp; greeting: Reply | null }>;
  /** sluice_ingress_refused_total for `reason`. */
  refused(reason: string): Promise<number>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export function useLimitsGateway(mxHost: string, listen = '', extra = '', clock?: Clock): LimitsEnv {
  let gw: TestGateway | undefined;
  let mx: TestMx | undefined;
  const sessions: RawSmtp[] = [];
  beforeAll(async () => {
    mx = await startTestMx({ host: mxHost });
    const toml = relayConfig({ mx: `${mxHost}:${mx.port}` }, extra).replace('mode = "relay"', `mode = "relay"\n${listen}`);
    gw = await startGateway(toml, undefined, clock);
  });
  afterAll(async () => {
    for (const c of sessions) c.close();
    await gw?.stop();
    await mx?.close();
  });
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('not started (use inside a test)');
    return v;
  };
  const metric = async (name: string, labels: Record<string, string> = {}) => metricValue(await need(gw).node.registry.getSingleMetricAsString(name), name, labels);
  return {
    get gw() {
      return need(gw);
    },
    get mx() {
      return need(mx);
    },
    async connect(ip) {
      const c = await RawSmtp.open(need(gw).port(), { localAddress: ip });
      sessions.push(c);
      return { c, greeting: await c.read() };
    },
    refused: (reason) => metric('sluice_ingress_refused_total', { reason }),
    metric,
  };
}
