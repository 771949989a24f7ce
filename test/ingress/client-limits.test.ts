// The per-client accounting (gateway/ingress/client-limits.ts) with a fake clock: what it
// counts, what resets it, which limits a client gets, and that its memory is bounded.
import { describe, expect, test } from 'vitest';
import { configSchema, type ListenConfig } from '../../gateway/config/schema.js';
import { ClientLimits, StressState, clientKey, limitsFor, type LimitSet } from '../../gateway/ingress/client-limits.js';
import { FakeClock } from '../support/fake-clock.js';

const base: LimitSet = { max_connections_per_ip: 2, max_connection_rate: { count: 3, periodMs: 60_000 }, max_junk_commands: 3, max_errors: 2, data_timeout: 600_000, session_timeout: 1_800_000, socket_timeout: 60_000, ipv6_prefix_length: 64 };

describe('connections', () => {
  test('concurrent sessions per address are capped and given back on release', () => {
    const l = new ClientLimits(new FakeClock());
    const none = { ...base, max_connection_rate: undefined };
    expect(l.admit('a', '192.0.2.1', none)).toBeNull();
    expect(l.admit('b', '192.0.2.1', none)).toBeNull();
    expect(l.admit('c', '192.0.2.1', none)).toBe('connections_per_ip');
    expect(l.admit('d', '192.0.2.2', none)).toBeNull();
    l.release('a');
    l.release('a');
    l.release('c'); // refused, never counted
    expect(l.open('192.0.2.1')).toBe(1);
    expect(l.admit('e', '192.0.2.1', none)).toBeNull();
  });

  test('the rate allows `count` at once, then one per period/count', () => {
    const clock = new FakeClock();
    const l = new ClientLimits(clock);
    const noCap = { ...base, max_connections_per_ip: 0 };
    for (const id of ['a', 'b', 'c']) expect(l.admit(id, '192.0.2.1', noCap)).toBeNull();
    expect(l.admit('d', '192.0.2.1', noCap)).toBe('connection_rate');
    clock.advance(19_999);
    expect(l.admit('e', '192.0.2.1', noCap)).toBe('connection_rate');
    clock.advance(1);
    expect(l.admit('f', '192.0.2.1', noCap)).toBeNull();
    expect(l.admit('g', '192.0.2.1', noCap)).toBe('connection_rate');
  });

  test('a rate that does not divide the period still allows exactly `count` at once', () => {
    const l = new ClientLimits(new FakeClock(Date.UTC(2026, 10, 1, 12, 0, 0, 123)));
    for (const count of [7, 13, 29]) {
      const r = { ...base, max_connections_per_ip: 0, max_connection_rate: { count, periodMs: 60_000 } };
      const ip = `192.0.2.${count}`;
      for (let i = 0; i < count; i++) expect(l.admit(`${ip}-${i}`, ip, r)).toBeNull();
      expect(l.admit(`${ip}-x`, ip, r)).toBe('connection_rate');
    }
  });

  test('IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4', () => {
    const l = new ClientLimits(new FakeClock());
    const none = { ...base, max_connection_rate: undefined };
    expect(l.admit('a', '2001:db8::1', none)).toBeNull();
    expect(l.admit('b', '2001:db8::ffff:2', none)).toBeNull();
    expect(l.admit('c', '2001:db8:0:0:1::3', none)).toBe('connections_per_ip');
    expect(l.admit('d', '2001:db8:0:1::1', none)).toBeNull();
    expect(clientKey('::ffff:192.0.2.7', 64)).toBe('192.0.2.7');
    expect(clientKey('192.0.2.7', 64)).toBe('192.0.2.7');
    expect(clientKey('2001:db8::1', 128)).toBe('2001:db8::1/128');
  });

  test('after a reload to another rate, the connections already counted carry over', () => {
    const l = new ClientLimits(new FakeClock());
    const one = { ...base, max_connections_per_ip: 0, max_connection_rate: { count: 1, periodMs: 60_000 } };
    const five = { ...one, max_connection_rate: { count: 5, periodMs: 60_000 } };
    expect(l.admit('a', '192.0.2.1', one)).toBeNull();
    expect(l.admit('b', '192.0.2.1', one)).toBe('connection_rate');
    for (const id of ['c', 'd', 'e', 'f']) expect(l.admit(id, '192.0.2.1', five)).toBeNull();
    expect(l.admit('g', '192.0.2.1', five)).toBe('connection_rate');
  });

  test('the rate table keeps at most maxTracked addresses, dropping the least recently seen', () => {
    const clock = new FakeClock();
    const l = new ClientLimits(clock, 100);
    for (let i = 0; i < 1000; i++) {
      l.admit(`s${i}`, `10.0.${i >> 8}.${i & 255}`, base);
      l.release(`s${i}`);
    }
    expect(l.tracked).toBe(100);
  });
});

describe('commands and replies without progress', () => {
  test('junk commands past the limit end the session; two greetings are free; a message resets', () => {
    const l = new ClientLimits(new FakeClock());
    l.admit('s', '192.0.2.1', base);
    expect(l.command('s', 'EHLO', base)).toBeNull();
    expect(l.command('s', 'STARTTLS', base)).toBeNull();
    expect(l.command('s', 'EHLO', base)).toBeNull();
    expect(l.command('s', 'MAIL', base)).toBeNull();
    for (const verb of ['NOOP', 'RSET', 'VRFY']) expect(l.command('s', verb, base)).toBeNull();
    l.progress('s');
    for (const verb of ['NOOP', 'HELP', 'EHLO']) expect(l.command('s', verb, base)).toBeNull();
    expect(l.command('s', 'NOOP', base)).toBe('junk_commands');
  });

  test('error replies count except 421 and 452; the limit-th ends the session', () => {
    const l = new ClientLimits(new FakeClock());
    l.admit('s', '192.0.2.1', base);
    expect(l.reply('s', 250, base)).toBeNull();
    expect(l.reply('s', 452, base)).toBeNull();
    expect(l.reply('s', 421, base)).toBeNull();
    expect(l.reply('s', 550, base)).toBeNull();
    l.progress('s');
    expect(l.reply('s', 550, base)).toBeNull();
    expect(l.reply('s', 501, base)).toBe('errors');
  });

  test('a command past session_timeout ends the session; 0 is no lifetime', () => {
    const clock = new FakeClock();
    const l = new ClientLimits(clock);
    l.admit('s', '192.0.2.1', base);
    clock.advance(1_799_999);
    expect(l.command('s', 'MAIL', base)).toBeNull();
    clock.advance(1);
    expect(l.command('s', 'MAIL', base)).toBe('session_timeout');
    expect(l.command('s', 'MAIL', { ...base, session_timeout: 0 })).toBeNull();
  });
});

describe('limitsFor', () => {
  const config = configSchema.parse({ listen: [{ port: 25, mode: 'relay', max_connections: 100 }, { port: 26, mode: 'relay', max_connections: 10, limits: { max_errors: 7 } }] });
  const [big, small] = config.listen as [ListenConfig, ListenConfig];

  test('defaults: untrusted 20 per address, 60/m, 100 junk, 20 errors, 10m DATA, 30m session', () => {
    expect(limitsFor(config, big, false, false)).toEqual({ max_connections_per_ip: 20, max_connection_rate: { count: 60, periodMs: 60_000 }, max_junk_commands: 100, max_errors: 20, data_timeout: 600_000, session_timeout: 1_800_000, socket_timeout: 60_000, ipv6_prefix_length: 64 });
  });

  test('an address never gets more than half a listener; the listener overrides [limits]', () => {
    expect(limitsFor(config, small, false, false)).toMatchObject({ max_connections_per_ip: 5, max_errors: 7 });
  });

  test('trusted clients: no per-address cap or rate, higher counts, no lifetime', () => {
    expect(limitsFor(config, big, true, true)).toEqual({ max_connections_per_ip: 0, max_junk_commands: 1000, max_errors: 1000, data_timeout: 600_000, session_timeout: 0, socket_timeout: 60_000, ipv6_prefix_length: 64 });
  });

  test('under stress untrusted clients get the stress values', () => {
    expect(limitsFor(config, big, false, true)).toMatchObject({ max_connections_per_ip: 5, max_junk_commands: 10, max_errors: 5, socket_timeout: 10_000 });
  });

  test('stress is entered at the threshold and left below 90 % of it', () => {
    const s = new StressState();
    expect(s.update(79, 100, 0.8)).toBeNull();
    expect(s.update(80, 100, 0.8)).toBe('entered');
    expect(s.update(73, 100, 0.8)).toBeNull();
    expect(s.update(71, 100, 0.8)).toBe('left');
  });
});
