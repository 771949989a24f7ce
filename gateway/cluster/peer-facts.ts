/**
 * What travels with a message from one node to a peer (a handoff or a replica): the
 * envelope (class, pool, priority, campaign, route headers...), the original queue id and
 * trace, the FBL reference, the attempt history and the hop count, in the X-Sluice-Peer
 * header that the sender puts first in the message. The value is signed with a key
 * derived from `[cluster] secret` over the facts AND the SHA-256 of the message bytes
 * after the header, so a peer never acts on facts or bytes that a node of the fleet did
 * not send together. Every edge listener strips the header from client mail
 * (node.ts privateHeaders), so a client cannot smuggle facts in.
 * Format: `1.<base64url(JSON)>.<base64url(HMAC-SHA256)>`, folded at 76 columns.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Envelope } from '../spool/types.js';

export const PEER_HEADER = 'X-Sluice-Peer';

/** A message goes through at most this many nodes (the accepting one excluded): loops end here. */
export const MAX_PEER_HOPS = 3;

export interface PeerFacts {
  readonly v: 1;
  readonly kind: 'handoff' | 'replica';
  /** The node id that accepted the message from its client. */
  readonly origin: string;
  /** The queue id on the sending node. */
  readonly queueId: string;
  /** The envelope as the sender spooled it (rcpts: every recipient of the message). */
  readonly envelope: Envelope;
  /** Delivery attempts so far, by recipient. */
  readonly attempts: Readonly<Record<string, number>>;
  /** Recipients that already have a final state on the sender. */
  readonly done: readonly string[];
  /** How many times the message went from one node to another before this one. */
  readonly hops: number;
  /** The nodes and queue ids the message went through, oldest first ("n1/<id> n2/<id>"). */
  readonly trace?: string;
  /** The message's X-Sluice-FBL value, when it has one. */
  readonly fbl?: string;
}

const envelopeSchema = z.looseObject({
  id: z.string(),
  mailFrom: z.string(),
  rcpts: z.array(z.string()),
  receivedAt: z.number(),
  class: z.string(),
  pool: z.string().nullable(),
  priority: z.number().nullable(),
  campaign: z.string().nullable(),
  messageId: z.string().nullable(),
  authUser: z.string().nullable(),
  clientAddress: z.string(),
  routeHeaders: z.record(z.string(), z.string()),
  isDsn: z.boolean(),
});

const factsSchema = z.strictObject({
  v: z.literal(1),
  kind: z.enum(['handoff', 'replica']),
  origin: z.string().min(1),
  queueId: z.string().min(1),
  envelope: envelopeSchema,
  attempts: z.record(z.string(), z.number().int().nonnegative()),
  done: z.array(z.string()),
  hops: z.number().int().nonnegative(),
  trace: z.string().optional(),
  fbl: z.string().optional(),
});

/** The two keys a cluster secret gives: one signs facts, one makes AUTH credentials. */
/** Derived keys by secret and use: HKDF once per key, not once per message. */
const derived = new Map<string, Buffer>();

function derive(secret: string, what: 'facts' | 'auth'): Buffer {
  const id = `${what}\u0000${secret}`;
  let key = derived.get(id);
  if (!key) {
    // A reload may change the secret: the old keys are not kept for ever.
    if (derived.size >= 16) derived.clear();
    key = Buffer.from(hkdfSync('sha256', secret, 'sluice-peer', `X-Sluice-Peer v1 ${what}`, 32));
    derived.set(id, key);
  }
  return key;
}

function mac(key: Buffer, payload: string, body: Buffer): Buffer {
  const digest = createHash('sha256').update(body).digest();
  return createHmac('sha256', key).update(`1.${payload}.`).update(digest).digest();
}

/** The header value (unfolded) for `facts` and the message bytes that follow the header. */
export function sealFacts(secret: string, facts: PeerFacts, body: Buffer): string {
  const payload = Buffer.from(JSON.stringify(facts), 'utf8').toString('base64url');
  return `1.${payload}.${mac(derive(secret, 'facts'), payload, body).toString('base64url')}`;
}

/** The facts in `value` when a node with `secret` sealed them over exactly `body`; else null. */
export function openFacts(secret: string, value: string, body: Buffer): PeerFacts | null {
  const m = /^1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(value.replace(/\s+/g, ''));
  if (!m?.[1] || !m[2]) return null;
  const want = mac(derive(secret, 'facts'), m[1], body);
  const got = Buffer.from(m[2], 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  try {
    const parsed = factsSchema.safeParse(JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')));
    return parsed.success ? (parsed.data as PeerFacts) : null;
  } catch {
    return null;
  }
}

/** The header field line(s), CRLF-terminated, folded so no line passes 78 characters (RFC 5322 §2.1.1). */
export function factsField(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 76) parts.push(value.slice(i, i + 76));
  return `${PEER_HEADER}:\r\n ${parts.join('\r\n ')}\r\n`;
}

/** A message as it travels to a peer: the signed facts field, then the message itself. */
export function peerMessage(secret: string, facts: PeerFacts, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(factsField(sealFacts(secret, facts, body)), 'latin1'), body]);
}

/** The recipients the facts' envelope still owes: those not in facts.done. */
export function pendingRcpts(facts: Pick<PeerFacts, 'envelope' | 'done'>): string[] {
  const done = new Set(facts.done);
  return facts.envelope.rcpts.filter((r) => !done.has(r));
}

/**
 * Splits a message a peer sent into its X-Sluice-Peer value and the bytes after that
 * field (the message as the sender spooled it). Null when the first field is not ours.
 */
export function splitFacts(message: Buffer): { value: string; body: Buffer } | null {
  const prefix = `${PEER_HEADER.toLowerCase()}:`;
  if (message.subarray(0, prefix.length).toString('latin1').toLowerCase() !== prefix) return null;
  let end = message.indexOf('\r\n');
  // The field goes on while the next line starts with white space (folding).
  while (end >= 0 && (message[end + 2] === 0x20 || message[end + 2] === 0x09)) end = message.indexOf('\r\n', end + 2);
  if (end < 0) return null;
  return { value: message.subarray(prefix.length, end).toString('latin1'), body: message.subarray(end + 2) };
}

/** The AUTH PLAIN credential of node `id`: derived from the secret, so any node can check it. */
export function peerPassword(secret: string, id: string): string {
  return createHmac('sha256', derive(secret, 'auth')).update(`node:${id}`).digest('base64url');
}

/** True when `password` is the credential of node `id` under `secret` (constant time). */
export function checkPeerPassword(secret: string, id: string, password: string): boolean {
  const want = Buffer.from(peerPassword(secret, id));
  const got = Buffer.from(password);
  return got.length === want.length && timingSafeEqual(got, want);
}
