import { readdir, readFile } from 'node:fs/promises';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { loadProfiles, parseProfile, ratePerSecond } from '../../loadtest/sim/profile.js';
import { configuredLimits, sluiceConfigToml } from '../../loadtest/setup/sluice-config.js';
import { mxSuffix } from '../../loadtest/setup/topology.js';

const DIR = new URL('../../loadtest/profiles/', import.meta.url).pathname;

describe('shipped profiles', () => {
  it('all parse, and the sink is clean (no limits, no refusals, no delays)', async () => {
    const names = (await readdir(DIR)).filter((f) => f.endsWith('.toml')).map((f) => f.slice(0, -5));
    expect(names).toEqual(expect.arrayContaining(['sink', 'gmail', 'outlook', 'yahoo', 'strict', 'other']));
    const profiles = await loadProfiles(DIR, names);
    const sink = profiles.find((p) => p.name === 'sink');
    expect(sink).toMatchObject({ connections: { max_per_ip: 0 }, rate: { max_per_ip: 0 }, greylist: { enabled: false }, random_defer: { share: 0 } });
    expect(sink?.delays).toEqual({ banner_ms: 0, reply_ms: 0, data_ms: 0 });
    // no hard bounces by default in any shipped profile
    for (const p of profiles) expect([p.name, p.recipients.unknown.share, p.recipients.mailbox_full.share]).toEqual([p.name, 0, 0]);
  });

  it('keep the generated gateway limits at or under what the provider enforces', async () => {
    for (const p of await loadProfiles(DIR, ['gmail', 'outlook', 'yahoo', 'strict', 'other'])) {
      const limits = configuredLimits(p);
      if (p.connections.max_per_ip) expect(limits.max_connections, p.name).toBeLessThanOrEqual(p.connections.max_per_ip);
      if (p.rate.max_per_ip) expect(limits.rate_per_s, p.name).toBeLessThanOrEqual(p.rate.max_per_ip);
    }
  });

  it('rejects unknown keys and bad values, naming file and key', () => {
    expect(() => parseProfile('x', '[connections]\nmax_per_ipp = 3\n', 'x.toml')).toThrow(/x\.toml connections/);
    expect(() => parseProfile('x', '[rate]\nat = "helo"\n', 'x.toml')).toThrow(/x\.toml rate\.at/);
    expect(() => parseProfile('x', 'hostname = \n', 'x.toml')).toThrow(/x\.toml:1/);
    expect(ratePerSecond('600/m')).toBe(10);
  });
});

describe('generated Sluice config', () => {
  it('is TOML with the keys the gateway reads', async () => {
    const profiles = await loadProfiles(DIR, ['gmail', 'other']);
    const text = sluiceConfigToml({
      nodeId: 'loadtest', dataDir: '/tmp/x/data', listenHost: '127.0.0.1', listenPort: 2600,
      dnsAddress: '127.0.0.1:5300', deliveryPort: 2601,
      sources: [{ name: 'lt1', ip: '127.0.0.2', ehlo: 'lt1.loadtest.test' }, { name: 'lt2', ip: '127.0.0.3', ehlo: 'lt2.loadtest.test' }],
      dkim: { domain: 'loadtest.test', selector: 'lt', keyFile: '/tmp/x/dkim.pem', dnsName: 'lt._domainkey.loadtest.test', txt: 'v=DKIM1; p=' },
      profiles,
    });
    const c = parse(text) as Record<string, any>;
    expect(c.listen).toEqual([{ host: '127.0.0.1', port: 2600, mode: 'relay' }]);
    expect(c.dns.servers).toEqual(['127.0.0.1:5300']);
    expect(c.delivery.port).toBe(2601);
    expect(c.pools.transactional.sources).toEqual(['lt1', 'lt2']);
    expect(c.plugins.order).toEqual(['dkim']);
    expect(c.dkim.keys).toEqual([{ domain: 'loadtest.test', selector: 'lt', key: '/tmp/x/dkim.pem' }]);
    expect(c.providers.gmail).toEqual({ mx_suffixes: [mxSuffix('gmail')], max_connections: 10, max_message_rate: '500/s', max_messages_per_connection: 100 });
    expect(c.providers.other).toBeUndefined(); // declare = false: the gateway's default applies
    expect(c.providers.default).toEqual({ max_connections: 20, max_message_rate: '2000/s' });
  });
});
