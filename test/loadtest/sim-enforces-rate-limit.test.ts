import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpSession } from '../../loadtest/client/smtp-session.js';
import { DeliveryLog } from '../../loadtest/sim/delivery-log.js';
import { parseProfile } from '../../loadtest/sim/profile.js';
import { ProviderSim } from '../../loadtest/sim/provider-sim.js';

// A profile's per-IP message rate (a sliding second): past it the provider answers with
// its own deferral text, here Gmail's multi-line 421-4.7.28 from the shipped profile.
let sim: ProviderSim | null = null;
afterEach(async () => {
  await sim?.stop();
  sim = null;
});

async function gmailWithRate(maxPerIp: number) {
  const text = await readFile(new URL('../../loadtest/profiles/gmail.toml', import.meta.url), 'utf8');
  const base = parseProfile('gmail', text, 'gmail.toml');
  // the shipped texts, a small limit, no random deferrals or delays to keep the test exact
  return {
    ...base,
    rate: { ...base.rate, max_per_ip: maxPerIp },
    random_defer: { ...base.random_defer, share: 0 },
    delays: { banner_ms: 0, reply_ms: 0, data_ms: 0 },
  };
}

describe('provider simulator message rate', () => {
  it('defers past max_per_ip messages per second with the profile reply', async () => {
    let now = 1_000_000;
    const log = new DeliveryLog('abcd1234', 10);
    sim = await ProviderSim.start({ profile: await gmailWithRate(3), host: '127.0.0.31', port: 0, log, clock: () => now });
    const head = (seq: number) => Buffer.from(`X-Loadtest-Trace: abcd1234.${seq}\r\nSubject: t\r\n\r\n`);
    const body = Buffer.from('hello\r\n');
    const connect = () => SmtpSession.open({ host: '127.0.0.31', port: sim?.port ?? 0, localAddress: '127.0.0.2', ehlo: 'a.loadtest.test', timeoutMs: 5000 });

    const s = await connect();
    for (let seq = 0; seq < 3; seq++) {
      expect((await s.send('a@loadtest.test', `lt-abcd1234-${seq}@d0.gmail.loadtest`, head(seq), body)).kind).toBe('accepted');
    }
    const refused = await s.send('a@loadtest.test', 'lt-abcd1234-3@d0.gmail.loadtest', head(3), body);
    expect(refused).toMatchObject({ kind: 'refused', stage: 'dot', reply: { code: 421 } });
    if (refused.kind !== 'refused') throw new Error('unreachable');
    expect(refused.reply.lines.length).toBe(6); // multi-line: 421-4.7.28 … 421 4.7.28 …
    expect(refused.reply.lines[0]).toBe('4.7.28 [127.0.0.2] Our system has detected an unusual rate of');
    expect(refused.reply.lines.every((l) => l.startsWith('4.7.28 '))).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.isOpen).toBe(false); // a 421 closes the session (RFC 5321 §3.8)

    // another IP has its own window; a second later this IP may send again
    const other = await SmtpSession.open({ host: '127.0.0.31', port: sim.port, localAddress: '127.0.0.3', ehlo: 'b.loadtest.test', timeoutMs: 5000 });
    expect((await other.send('a@loadtest.test', 'lt-abcd1234-4@d0.gmail.loadtest', head(4), body)).kind).toBe('accepted');
    now += 1000;
    const again = await connect();
    expect((await again.send('a@loadtest.test', 'lt-abcd1234-3@d0.gmail.loadtest', head(3), body)).kind).toBe('accepted');
    await Promise.all([other.quit(), again.quit()]);

    expect(sim.policy.refusals.rate).toBe(1);
    expect(log.delivered).toBe(5);
    expect(log.duplicates).toBe(0);
  });
});
