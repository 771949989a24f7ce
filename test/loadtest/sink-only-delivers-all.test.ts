import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AcceptLog, LoadClient } from '../../loadtest/client/load-client.js';
import { MessagePlan, recipientDomains } from '../../loadtest/client/message.js';
import { monotonicClock } from '../../loadtest/clock.js';
import { buildReport } from '../../loadtest/report/build-report.js';
import { DeliveryLog } from '../../loadtest/sim/delivery-log.js';
import { ConnectionTracker } from '../../loadtest/sim/peer-stats.js';
import { parseProfile } from '../../loadtest/sim/profile.js';
import { ProviderSim } from '../../loadtest/sim/provider-sim.js';

// The load client straight against the sink simulator (what --sink-only measures): every
// message gets its 250 and arrives once, traced by seq.
let sim: ProviderSim | null = null;
afterEach(async () => {
  await sim?.stop();
  sim = null;
});

describe('load client against the sink simulator', () => {
  it('delivers N messages with none lost and none duplicated', async () => {
    const N = 2000;
    const runId = 'sink1234';
    const profile = parseProfile('sink', await readFile(new URL('../../loadtest/profiles/sink.toml', import.meta.url), 'utf8'), 'sink.toml');
    const log = new DeliveryLog(runId, N);
    const sources = new ConnectionTracker();
    sim = await ProviderSim.start({ profile, host: '127.0.0.32', port: 0, log, clock: monotonicClock, sharedTrackers: [sources] });
    const plan = new MessagePlan({ runId, size: 2048, domains: recipientDomains(20, ['sink']), unknownShare: 0 });
    const accept = new AcceptLog(N);
    await new LoadClient({ host: '127.0.0.32', port: sim.port, connections: 8, plan, clock: monotonicClock }, accept).run();

    expect(accept.accepted).toBe(N);
    expect(log.delivered).toBe(N);
    expect(log.duplicates).toBe(0);
    expect(log.foreign + log.untraced).toBe(0);
    const { report } = buildReport({
      runId, mode: 'sink-only', startedAt: new Date(),
      settings: { connections: 8, size_bytes: 2048, domains: 20, dkim: 'none', profiles: ['sink'], source_count: 0, target: null, unknown_share: 0 },
      accept, deliveries: log, dsnReceived: 0,
      providers: [{ provider: 'sink', peers: sim.tracker.snapshot(), peakTotal: sim.tracker.peakTotal(), sessions: sim.sessions, tlsSessions: sim.tlsSessions, refusals: sim.policy.refusals, configured: null, profileMaxConnections: 0, profileMaxRate: 0 }],
      sourcePeers: sources.snapshot(), gateway: null, gatewayRss: [], drain: { end: 'complete', waited_s: 0 },
      endpoints: { dns: null, sink_port: sim.port, work_dir: null }, warnings: [],
    });
    expect(report).toMatchObject({ messages: N, accepted: N, delivered: N, lost: 0, duplicates: 0, bounced: 0 });
    expect(report.providers.sink?.peak_connections).toBe(8);
    expect(report.delivered_per_s).toBeGreaterThan(0);
  });
});
