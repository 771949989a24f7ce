import { describe, expect, it } from 'vitest';
import { AcceptLog, SEQ } from '../../loadtest/client/load-client.js';
import { buildReport, dkimLabel, type ReportInput } from '../../loadtest/report/build-report.js';
import { formatReport } from '../../loadtest/report/table.js';
import { DeliveryLog } from '../../loadtest/sim/delivery-log.js';
import { ConnectionTracker } from '../../loadtest/sim/peer-stats.js';

// The report's accounting on a hand-made run: accepted, delivered, bounced, lost,
// duplicated, latency from the 250 to the arrival, per-IP peaks against the limits.
function input(accept: AcceptLog, log: DeliveryLog, peers: ConnectionTracker): ReportInput {
  return {
    runId: 'test1234', mode: 'gateway', startedAt: new Date(0),
    settings: { connections: 1, size_bytes: 1000, domains: 1, dkim: 'none', profiles: ['gmail'], source_count: 2, target: null, unknown_share: 0 },
    accept, deliveries: log, dsnReceived: 0,
    providers: [{
      provider: 'gmail', peers: peers.snapshot(), peakTotal: peers.peakTotal(), sessions: 2, tlsSessions: 0,
      refusals: { connections: 0, rate: 2, per_connection: 0, greylist: 0, random: 0, unknown: 1, mailbox_full: 0 },
      configured: { section: 'providers.gmail', max_connections: 2, rate_per_s: 3, max_messages_per_connection: null },
      profileMaxConnections: 12, profileMaxRate: 600,
    }],
    sourcePeers: peers.snapshot(), gateway: { cpu_s: 1.5, rss_peak_mb: 80 }, gatewayRss: [],
    drain: { end: 'stalled', waited_s: 60 }, endpoints: { dns: '127.0.0.1:1', sink_port: 2, work_dir: null }, warnings: [],
  };
}

describe('report outcomes', () => {
  it('accounts for every accepted message and measures latency from the 250', () => {
    const accept = new AcceptLog(6);
    const log = new DeliveryLog('test1234', 6);
    const peers = new ConnectionTracker();
    peers.opened('127.0.0.2');
    peers.opened('127.0.0.2');
    peers.opened('127.0.0.3');
    const acceptAt = [1000, 1010, 1020, 1030, 1040];
    acceptAt.forEach((t, seq) => {
      accept.acceptedAt[seq] = t;
      accept.state[seq] = SEQ.accepted;
      accept.accepted += 1;
    });
    accept.firstSendAt = 990;
    accept.lastAcceptAt = 1040;
    accept.state[5] = SEQ.refused; // 5xx from the gateway: not accepted, not lost
    accept.refused = 1;
    const arrive = (seq: number, t: number, ip: string) =>
      log.record({ trace: `test1234.${seq}`, t, ip, provider: 'gmail', dkim: false });
    arrive(0, 1100, '127.0.0.2'); // 100 ms
    arrive(1, 1210, '127.0.0.2'); // 200 ms
    arrive(2, 1320, '127.0.0.3'); // 300 ms
    arrive(2, 1400, '127.0.0.3'); // a duplicate
    log.recordHardRefusal(3); // bounced at the provider; seq 4 never arrives: lost
    log.record({ trace: 'other999.1', t: 1500, ip: '127.0.0.2', provider: 'gmail', dkim: false }); // another run

    const { report, latencies } = buildReport(input(accept, log, peers));
    expect(report).toMatchObject({ messages: 6, accepted: 5, refused: 1, delivered: 3, bounced: 1, lost: 1, duplicates: 1, foreign: 1 });
    expect(Array.from(latencies)).toEqual([100, 200, 300]);
    expect(report.latency_ms).toMatchObject({ p50: 200, p95: 300, p99: 300, max: 300 });
    expect(report.accepted_per_s).toBe(100); // 5 accepted in the 50 ms from 990 to 1040
    expect(report.delivered_per_s).toBe(9.1); // 3 delivered in the 330 ms from 990 to 1320
    const gmail = report.providers.gmail;
    expect(gmail).toMatchObject({ peak_connections: 2, peak_connections_total: 3, limit_connections: 2, limit_rate: 3, within_limits: true });
    expect(gmail?.max_1s_rate).toBe(3); // 127.0.0.2 delivered 3 within a second (1100, 1210, 1500)
    expect(report.sources['127.0.0.3']).toMatchObject({ peak_connections: 1, delivered: 2 });
    expect(report).toMatchObject({ cpu_s: 1.5, rss_peak_mb: 80 });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report); // what --json prints is the whole report
  });
});

describe('the report header says who signed', () => {
  it('--target: the header never says "dkim none" beside a count of signed arrivals', () => {
    const accept = new AcceptLog(2);
    const log = new DeliveryLog('test1234', 2);
    [0, 1].forEach((seq) => {
      accept.acceptedAt[seq] = 1000;
      accept.state[seq] = SEQ.accepted;
      accept.accepted += 1;
      log.record({ trace: `test1234.${seq}`, t: 1100, ip: '127.0.0.2', provider: 'gmail', dkim: true });
    });
    const base = input(accept, log, new ConnectionTracker());
    const { report } = buildReport({ ...base, mode: 'target', settings: { ...base.settings, target: '127.0.0.1:2525' } });
    const text = formatReport(report);
    expect(text).toContain('DKIM-Signature present on 2 of 2 arrivals');
    expect(text).not.toContain('dkim none');
    expect(text).toContain("dkim by the target's own config");
    expect(dkimLabel({ mode: 'gateway', dkim: 'rsa', dkim_signed: 10 })).toBe('dkim rsa (a fresh key)');
  });
});
