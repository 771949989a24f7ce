/**
 * VERP return paths ([bounces] domain): each delivery leaves with the envelope sender
 * `b+<token>@<domain>`, so a bounce mailed back names the message it is about even when
 * it quotes nothing of it. The token is short (the local part must fit RFC 5321 §4.5.3.1.1's
 * 64 octets) and signed (HMAC-SHA256 with [bounces] secret), case-insensitive (some MTAs
 * fold the local part), and holds no address in the clear:
 *
 *   b+<queue id>-<scope><source><pool>-<sender mac><mac>      (58 characters)
 *
 * - queue id: the message's 17-character id, lower-cased;
 * - scope: `r` when the delivery had one recipient (the MAC covers that address) or `d`
 *   when it had several at one domain (the MAC covers the domain);
 * - source, pool: 6 hex digits of SHA-256 of the [sources.X] / [pools.X] name the delivery
 *   used, so the bounce can count against the health window of (source, provider) on any
 *   node, long after the message left the spool;
 * - sender mac: 8 hex digits binding the original envelope sender (a [bounces] forward DSN
 *   goes to a sender only when it is the one we were given). The sender itself is not in
 *   the address (the 6 octets left would rarely hold it): sender-log.ts keeps it in the
 *   state by queue id;
 * - mac: 16 hex digits of HMAC over everything before it and the scope's address.
 *
 * The bounce's recipient (Final-Recipient, else what the text names) is checked against
 * the MAC: a token copied onto another address matches nothing.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';

export const VERP_PREFIX = 'b+';

export interface VerpRef {
  readonly queueId: string;
  readonly scope: 'r' | 'd';
  /** 6 hex digits of the source's and the pool's name ('000000' when there was none). */
  readonly sourceHash: string;
  readonly poolHash: string;
  readonly senderMac: string;
  readonly mac: string;
}

export interface VerpDelivery {
  readonly queueId: string;
  readonly mailFrom: string;
  readonly rcpts: readonly string[];
  readonly source: string | null;
  readonly pool: string | null;
}

const TOKEN = /^b\+([0-9a-z]{17})-([rd])([0-9a-f]{6})([0-9a-f]{6})-([0-9a-f]{8})([0-9a-f]{16})$/i;

export class VerpTokens {
  readonly #key: Buffer;

  constructor(
    secret: string | Buffer,
    readonly domain: string,
  ) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'sluice-verp', 'VERP v1', 32));
  }

  /** The envelope sender for one delivery of a message (recipients all at one domain). */
  returnPath(d: VerpDelivery): string {
    const scope = d.rcpts.length === 1 ? 'r' : 'd';
    const body = `${d.queueId.toLowerCase()}-${scope}${nameHash(d.source)}${nameHash(d.pool)}`;
    const signed = `${body}-${this.#senderMac(d.queueId, d.mailFrom)}`;
    return `${VERP_PREFIX}${signed}${this.#mac(signed, scopeValue(scope, d.rcpts[0] ?? ''))}@${this.domain}`;
  }

  /** The token in a local part, or null when it is none of ours in form (its MAC is checked by `ties`). */
  parse(localPart: string): VerpRef | null {
    const m = TOKEN.exec(localPart);
    if (!m) return null;
    const [, id, scope, src, pool, smac, mac] = m as unknown as [string, string, 'r' | 'd', string, string, string, string];
    return { queueId: id.toUpperCase(), scope: scope.toLowerCase() as 'r' | 'd', sourceHash: src.toLowerCase(), poolHash: pool.toLowerCase(), senderMac: smac.toLowerCase(), mac: mac.toLowerCase() };
  }

  /** True when `ref` was signed here for a delivery that included `recipient`. */
  ties(ref: VerpRef, recipient: string): boolean {
    if (!recipient.includes('@')) return false;
    const signed = `${ref.queueId.toLowerCase()}-${ref.scope}${ref.sourceHash}${ref.poolHash}-${ref.senderMac}`;
    return safeEqual(this.#mac(signed, scopeValue(ref.scope, recipient)), ref.mac);
  }

  /** True when `sender` is the envelope sender the message came with. */
  senderIs(ref: VerpRef, sender: string): boolean {
    return safeEqual(this.#senderMac(ref.queueId, sender), ref.senderMac);
  }

  #mac(body: string, scoped: string): string {
    return createHmac('sha256', this.#key).update(`v1|${body}|${scoped}`).digest('hex').slice(0, 16);
  }

  #senderMac(queueId: string, sender: string): string {
    return createHmac('sha256', this.#key).update(`s|${queueId.toUpperCase()}|${sender.toLowerCase()}`).digest('hex').slice(0, 8);
  }
}

/**
 * The envelope sender of one delivery: the VERP address, except for the null sender
 * (our DSNs and any bounce a client relays keep `<>`, RFC 5321 §4.5.5).
 */
export function verpSender(tokens: VerpTokens, envelope: { readonly id: string; readonly mailFrom: string; readonly isDsn: boolean }, rcpts: readonly string[], source: string | null, pool: string | null): string {
  if (envelope.isDsn || envelope.mailFrom === '') return envelope.mailFrom;
  return tokens.returnPath({ queueId: envelope.id, mailFrom: envelope.mailFrom, rcpts, source, pool });
}

/** 6 hex digits naming a [sources.X] or [pools.X] table. */
export function nameHash(name: string | null): string {
  if (name === null || name === '') return '000000';
  return createHash('sha256').update(name).digest('hex').slice(0, 6);
}

/** The one name among `names` whose hash is `hash`; null when none is or several are. */
export function nameOf(hash: string, names: readonly string[]): string | null {
  const hits = names.filter((n) => nameHash(n) === hash);
  return hits.length === 1 ? (hits[0] ?? null) : null;
}

function scopeValue(scope: 'r' | 'd', address: string): string {
  const a = address.toLowerCase();
  return scope === 'r' ? a : a.slice(a.lastIndexOf('@') + 1);
}

function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
