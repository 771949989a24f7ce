/**
 * Per-client accounting for one listener, as Postfix's anvil(8) and smtpd(8) keep it:
 * concurrent sessions and the connection rate per client address, and per session the
 * commands and error replies sent since the last accepted message ("without progress"),
 * and the session's age. It decides; the listener and smtp-guards.ts speak the replies.
 *
 * Memory is bounded: sessions and per-address counts by the open sessions (at most the
 * listener's max_connections), the rate table by MAX_TRACKED addresses.
 */
import { Address4, Address6 } from 'ip-address';
import type { Config, ListenConfig } from '../config/schema.js';
import type { Clock } from '../state/types.js';

const MAX_TRACKED = 50_000;

/** Why a session was refused or ended (the `reason` label of sluice_ingress_refused_total). */
export type LimitReason = 'connections_per_ip' | 'connection_rate' | 'junk_commands' | 'errors' | 'session_timeout' | 'data_timeout';

/** Every `reason` of sluice_ingress_refused_total: a client limit, or low_disk (MAIL FROM answered 452 4.3.1 under min_free_disk). */
export type RefusedReason = LimitReason | 'low_disk';

/** The limits that apply to one session at one moment (0 or absent: no limit). */
export interface LimitSet {
  readonly max_connections_per_ip: number;
  readonly max_connection_rate?: { readonly count: number; readonly periodMs: number } | undefined;
  readonly max_junk_commands: number;
  readonly max_errors: number;
  readonly data_timeout: number;
  readonly session_timeout: number;
  /** The idle timeout between commands (the listener's, or the shorter one under stress). */
  readonly socket_timeout: number;
  /** IPv6 clients are counted by this prefix (an IPv6 host usually holds a whole /64). */
  readonly ipv6_prefix_length: number;
}

/**
 * The limits for a client of `listen`: [limits.trusted] for relay.networks and
 * authenticated users, else [limits] with the listener's own values, tightened by
 * [limits.stress] while the listener is under stress. One address never gets more than
 * half a listener's max_connections, so it cannot lock the others out.
 */
export function limitsFor(config: Config, listen: ListenConfig, trusted: boolean, stressed: boolean): LimitSet {
  const { trusted: t, stress, ipv6_prefix_length, ...base } = config.limits;
  const half = Math.max(1, Math.floor(listen.max_connections / 2));
  if (trusted) return { ...t, socket_timeout: listen.socket_timeout, ipv6_prefix_length };
  const own = { ...withListener(base, listen.limits), ipv6_prefix_length };
  const perIp = capped(own.max_connections_per_ip, half);
  if (!stressed) return { ...own, max_connections_per_ip: perIp, socket_timeout: listen.socket_timeout };
  return {
    ...own,
    max_connections_per_ip: capped(perIp, stress.max_connections_per_ip),
    max_junk_commands: capped(own.max_junk_commands, stress.max_junk_commands),
    max_errors: capped(own.max_errors, stress.max_errors),
    socket_timeout: Math.min(listen.socket_timeout, stress.socket_timeout),
  };
}

/** [limits] with the listener's own values on top (the keys it leaves out keep [limits]'). */
function withListener<T extends object>(base: T, own: Partial<Record<keyof T, unknown>> | undefined): T {
  const merged = { ...base };
  for (const [key, value] of Object.entries(own ?? {})) if (value !== undefined) Object.assign(merged, { [key]: value });
  return merged;
}

/**
 * The key an address is counted under: an IPv4 address (also as ::ffff:a.b.c.d, RFC 4291
 * §2.5.5.2) itself, an IPv6 address by its prefix, so one host cannot take a fresh count
 * from each address of its /64.
 */
export function clientKey(address: string, ipv6PrefixLength: number): string {
  try {
    if (!Address6.isValid(address) || Address4.isValid(address)) return address;
    const a = new Address6(address);
    if (a.is4()) return a.to4().correctForm();
    return `${new Address6(`${a.correctForm()}/${ipv6PrefixLength}`).startAddress().correctForm()}/${ipv6PrefixLength}`;
  } catch {
    return address;
  }
}

/** The smaller of two limits where 0 means none. */
function capped(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

interface SessionCount {
  readonly ip: string;
  readonly startedAt: number;
  junk: number;
  helos: number;
  errors: number;
}

/** Commands that move no mail, Postfix's "junk" commands: RSET, HELP, NOOP (RFC 5321 §4.1.1.5, .8, .9), VRFY and EXPN (§3.5), ETRN (RFC 1985). */
const JUNK = new Set(['NOOP', 'RSET', 'VRFY', 'EXPN', 'HELP', 'ETRN']);
const GREETINGS = new Set(['HELO', 'EHLO', 'LHLO']);

export class ClientLimits {
  private readonly sessions = new Map<string, SessionCount>();
  private readonly perIp = new Map<string, number>();
  /** GCRA: per address, the theoretical arrival time of its next connection, and the spacing it was computed with. */
  private readonly rate = new Map<string, { tat: number; interval: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly maxTracked = MAX_TRACKED,
  ) {}

  /** A new session from `ip`: counted and null, or the reason it is refused (then not counted). */
  admit(sessionId: string, address: string, limits: LimitSet): LimitReason | null {
    const ip = clientKey(address, limits.ipv6_prefix_length);
    if (limits.max_connection_rate && !this.takeRate(ip, limits.max_connection_rate)) return 'connection_rate';
    const open = this.perIp.get(ip) ?? 0;
    if (limits.max_connections_per_ip > 0 && open >= limits.max_connections_per_ip) return 'connections_per_ip';
    this.perIp.set(ip, open + 1);
    this.sessions.set(sessionId, { ip, startedAt: this.clock.now(), junk: 0, helos: 0, errors: 0 });
    return null;
  }

  /** The session ended (every session that was admitted, exactly once). */
  release(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.sessions.delete(sessionId);
    const open = (this.perIp.get(s.ip) ?? 1) - 1;
    if (open <= 0) this.perIp.delete(s.ip);
    else this.perIp.set(s.ip, open);
  }

  /** A command line arrived: null, or the reason to end the session before running it. */
  command(sessionId: string, verb: string, limits: LimitSet): LimitReason | null {
    const s = this.sessions.get(sessionId);
    if (!s) return null;
    if (limits.session_timeout > 0 && this.clock.now() - s.startedAt >= limits.session_timeout) return 'session_timeout';
    if (GREETINGS.has(verb)) {
      // EHLO, STARTTLS, EHLO again (RFC 3207 §4.2) is the normal path: from the third on, junk.
      s.helos++;
      if (s.helos <= 2) return null;
    } else if (!JUNK.has(verb)) return null;
    s.junk++;
    return limits.max_junk_commands > 0 && s.junk > limits.max_junk_commands ? 'junk_commands' : null;
  }

  /**
   * An error reply went out: null, or the reason to end the session. 421 closes anyway;
   * 452 asks a well-behaved client to send the rest later (RFC 5321 §4.5.3.1.10), so
   * neither counts.
   */
  reply(sessionId: string, code: number, limits: LimitSet): LimitReason | null {
    const s = this.sessions.get(sessionId);
    if (!s || code < 400 || code === 421 || code === 452) return null;
    s.errors++;
    return limits.max_errors > 0 && s.errors >= limits.max_errors ? 'errors' : null;
  }

  /** A message was accepted: the session made progress, its junk and error counts start over. */
  progress(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    s.junk = 0;
    s.helos = 2;
    s.errors = 0;
  }

  /** Sessions now counted from `address` (its IPv6 prefix). */
  open(address: string, ipv6PrefixLength = 64): number {
    return this.perIp.get(clientKey(address, ipv6PrefixLength)) ?? 0;
  }

  /** Addresses whose connection rate is tracked (bounded by maxTracked). */
  get tracked(): number {
    return this.rate.size;
  }

  /**
   * GCRA (as KumoMTA's throttles): `count` connections at once, then one every
   * periodMs/count. A refused connection does not move the schedule.
   */
  private takeRate(ip: string, r: { count: number; periodMs: number }): boolean {
    const now = this.clock.now();
    const interval = r.periodMs / r.count;
    const seen = this.rate.get(ip);
    // After a reload with another rate, the connections still counted carry over.
    const prior = seen ? now + (Math.max(seen.tat - now, 0) / seen.interval) * interval : now;
    const tat = prior + interval;
    // 0.01 ms of slack: sums of periodMs/count on epoch milliseconds are not exact.
    if (tat - now > r.periodMs + 0.01) return false;
    this.rate.delete(ip);
    this.rate.set(ip, { tat, interval });
    if (this.rate.size > this.maxTracked) this.evict();
    return true;
  }

  /** Drops the least recently seen addresses (the first in the map); theirs lapsed first. */
  private evict(): void {
    for (const ip of this.rate.keys()) {
      if (this.rate.size <= this.maxTracked) return;
      this.rate.delete(ip);
    }
  }
}

/**
 * Stress (Postfix's stress-dependent overrides): a listener is under stress from
 * `threshold` of its max_connections in use, and leaves it below 90 % of that, so it
 * does not flap at the edge.
 */
export class StressState {
  stressed = false;

  /** The transition this count makes, if any. */
  update(open: number, maxConnections: number, threshold: number): 'entered' | 'left' | null {
    const at = threshold * maxConnections;
    if (!this.stressed && open >= at) {
      this.stressed = true;
      return 'entered';
    }
    if (this.stressed && open < at * 0.9) {
      this.stressed = false;
      return 'left';
    }
    return null;
  }
}
