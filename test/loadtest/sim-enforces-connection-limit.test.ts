import { afterEach, describe, expect, it } from 'vitest';
import { SmtpSession } from '../../loadtest/client/smtp-session.js';
import { monotonicClock } from '../../loadtest/clock.js';
import { DeliveryLog } from '../../loadtest/sim/delivery-log.js';
import { parseProfile } from '../../loadtest/sim/profile.js';
import { ProviderSim } from '../../loadtest/sim/provider-sim.js';

// A profile's per-IP connection cap: past it the provider answers its own 421 at the
// banner and closes; other peer IPs are counted apart.
const PROFILE = `
hostname = "mx.limit.loadtest.test"
[connections]
max_per_ip = 2
reply = { code = 421, text = "4.7.0 [{ip}] Too many concurrent SMTP connections from this IP" }
`;

let sim: ProviderSim | null = null;
const open: SmtpSession[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await sim?.stop();
  sim = null;
});

function connect(localAddress: string): Promise<SmtpSession> {
  return SmtpSession.open({ host: '127.0.0.30', port: sim?.port ?? 0, localAddress, ehlo: 'test.loadtest.test', timeoutMs: 5000 });
}

describe('provider simulator connection limit', () => {
  it('refuses the connection past max_per_ip with the profile reply, per peer IP', async () => {
    const profile = parseProfile('limit', PROFILE, 'limit.toml');
    sim = await ProviderSim.start({ profile, host: '127.0.0.30', port: 0, log: new DeliveryLog('abcd1234', 10), clock: monotonicClock });
    open.push(await connect('127.0.0.2'), await connect('127.0.0.2'));
    await expect(connect('127.0.0.2')).rejects.toThrow('banner: 421 4.7.0 [127.0.0.2] Too many concurrent SMTP connections from this IP');
    open.push(await connect('127.0.0.3')); // another IP has its own count

    const peers = sim.tracker.snapshot();
    expect(peers.get('127.0.0.2')?.peak_connections).toBe(3); // the refused one was seen too
    expect(peers.get('127.0.0.3')?.peak_connections).toBe(1);
    expect(sim.policy.refusals.connections).toBe(1);
  });

  it('admits a new connection once one closes', async () => {
    const profile = parseProfile('limit', PROFILE, 'limit.toml');
    sim = await ProviderSim.start({ profile, host: '127.0.0.30', port: 0, log: new DeliveryLog('abcd1234', 10), clock: monotonicClock });
    const a = await connect('127.0.0.4');
    open.push(a, await connect('127.0.0.4'));
    await a.quit();
    await new Promise((r) => setTimeout(r, 50));
    open.push(await connect('127.0.0.4'));
    expect(sim.policy.refusals.connections).toBe(0);
  });
});
