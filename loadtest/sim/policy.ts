import type { Clock } from '../clock.js';
import type { Profile, SimReply, SimStage } from './profile.js';
import { unitHash } from '../stable-hash.js';
import { SlidingWindow } from './peer-stats.js';

/** Why a simulated provider refused something; the report counts each. */
export const REFUSAL_REASONS = [
  'connections',
  'rate',
  'per_connection',
  'greylist',
  'random',
  'unknown',
  'mailbox_full',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  readonly reason: RefusalReason;
  readonly code: number;
  /** reply lines with {ip} / {rcpt} filled in; more than one is a multi-line reply */
  readonly lines: readonly string[];
}

/**
 * The decisions of one simulated provider, apart from any socket: each method answers
 * null (go on) or the refusal a real provider would send at that point. Pure but for the
 * clock, the random source and its own counters, so tests drive it directly.
 */
export class ProviderPolicy {
  readonly refusals: Record<RefusalReason, number> = {
    connections: 0,
    rate: 0,
    per_connection: 0,
    greylist: 0,
    random: 0,
    unknown: 0,
    mailbox_full: 0,
  };
  private readonly window = new SlidingWindow(1000);
  private readonly greylisted = new Set<string>();
  private readonly tempRefusals = new Map<string, number>();

  constructor(
    readonly profile: Profile,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** `open` counts the connections now open from `ip`, this one included. */
  onConnect(ip: string, open: number): Refusal | null {
    const max = this.profile.connections.max_per_ip;
    if (max > 0 && open > max) return this.refuse('connections', this.profile.connections.reply, ip, '');
    return null;
  }

  /** `done` counts the messages this session already delivered. */
  onMail(ip: string, done: number): Refusal | null {
    const max = this.profile.per_connection.max_messages;
    if (max > 0 && done >= max) return this.refuse('per_connection', this.profile.per_connection.reply, ip, '');
    return this.rateAndRandom('mail', ip, '');
  }

  onRcpt(ip: string, sender: string, rcpt: string): Refusal | null {
    const { unknown, mailbox_full } = this.profile.recipients;
    const at = rcpt.indexOf('@');
    const local = (at < 0 ? rcpt : rcpt.slice(0, at)).toLowerCase();
    for (const [reason, rule] of [
      ['unknown', unknown],
      ['mailbox_full', mailbox_full],
    ] as const) {
      const hit = (rule.prefix !== '' && local.startsWith(rule.prefix)) || unitHash(`${reason}:${rcpt}`) < rule.share;
      if (hit && this.stillRefusing(`${reason}:${rcpt}`, rule.reply.code, rule.clears_after)) {
        return this.refuse(reason, rule.reply, ip, rcpt);
      }
    }
    const grey = this.profile.greylist;
    if (grey.enabled && grey.at === 'rcpt' && this.firstSeen(`${ip}|${sender}|${rcpt}`)) {
      return this.refuse('greylist', grey.reply, ip, rcpt);
    }
    return this.rateAndRandom('rcpt', ip, rcpt);
  }

  /** After the final dot (RFC 5321 §4.2.5: the one reply that decides the message). */
  onDataEnd(ip: string, sender: string, rcpts: readonly string[]): Refusal | null {
    const grey = this.profile.greylist;
    const rcpt = rcpts[0] ?? '';
    if (grey.enabled && grey.at === 'data' && this.firstSeen(`${ip}|${sender}|${rcpts.join(',')}`)) {
      return this.refuse('greylist', grey.reply, ip, rcpt);
    }
    return this.rateAndRandom('data', ip, rcpt);
  }

  private rateAndRandom(stage: SimStage, ip: string, rcpt: string): Refusal | null {
    const rate = this.profile.rate;
    if (rate.max_per_ip > 0 && rate.at === stage) {
      const now = this.clock();
      if (this.window.count(ip, now) >= rate.max_per_ip) return this.refuse('rate', rate.reply, ip, rcpt);
      this.window.add(ip, now);
    }
    const rnd = this.profile.random_defer;
    if (rnd.share > 0 && rnd.at === stage && this.random() < rnd.share) {
      return this.refuse('random', rnd.reply, ip, rcpt);
    }
    return null;
  }

  /** Greylisting (RFC 6647 §2.1): refuse the first attempt of a triple, accept the rest. */
  private firstSeen(triple: string): boolean {
    if (this.greylisted.has(triple)) return false;
    this.greylisted.add(triple);
    return true;
  }

  /** A 5xx answer never changes; a 4xx one stops after `clearsAfter` refusals. */
  private stillRefusing(key: string, code: number, clearsAfter: number): boolean {
    if (code >= 500) return true;
    const n = this.tempRefusals.get(key) ?? 0;
    if (n >= clearsAfter) return false;
    this.tempRefusals.set(key, n + 1);
    return true;
  }

  private refuse(reason: RefusalReason, reply: SimReply, ip: string, rcpt: string): Refusal {
    this.refusals[reason] += 1;
    const texts = typeof reply.text === 'string' ? [reply.text] : reply.text;
    const lines = texts.map((t) => t.replaceAll('{ip}', ip).replaceAll('{rcpt}', rcpt));
    return { reason, code: reply.code, lines };
  }
}
