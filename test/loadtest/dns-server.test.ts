import { Resolver } from 'node:dns/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { recipientDomains } from '../../loadtest/client/message.js';
import { LoadtestDns } from '../../loadtest/setup/dns-server.js';
import { freePortOnAll } from '../../loadtest/setup/free-port.js';
import { buildZone, mxHosts } from '../../loadtest/setup/topology.js';

// The load test's DNS server answers MX for the test domains with hosts in the provider's
// mx_suffix, A for those hosts, NXDOMAIN for anything else.
let dns: LoadtestDns | null = null;
afterEach(async () => {
  await dns?.stop();
  dns = null;
});

describe('load test DNS server', () => {
  it('serves MX and A records for the simulated providers', async () => {
    const domains = recipientDomains(4, ['gmail', 'other']);
    const zone = buildZone({ domains, simHosts: new Map([['gmail', '127.0.0.30'], ['other', '127.0.0.31']]) });
    dns = await LoadtestDns.start(zone, '127.0.0.1', await freePortOnAll(['127.0.0.1'], true));
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([dns.address]);

    expect(domains.map((d) => d.domain)).toEqual(['d0.gmail.loadtest', 'd1.other.loadtest', 'd2.gmail.loadtest', 'd3.other.loadtest']);
    const mx = await r.resolveMx('d2.gmail.loadtest');
    expect(mx.sort((a, b) => a.priority - b.priority)).toEqual(mxHosts('gmail').map((exchange, i) => ({ exchange, priority: 10 * (i + 1) })));
    expect(await r.resolve4('mx1.gmail.loadtest.test')).toEqual(['127.0.0.30']);
    expect(await r.resolve4('mx2.other.loadtest.test')).toEqual(['127.0.0.31']);
    expect(await r.resolveMx('loadtest.test')).toEqual([{ exchange: 'mx.bounces.loadtest.test', priority: 10 }]);
    await expect(r.resolveMx('nowhere.loadtest')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolve6('mx1.gmail.loadtest.test')).rejects.toMatchObject({ code: 'ENODATA' });
  });
});
