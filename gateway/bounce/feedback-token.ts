/**
 * The X-Sluice-FBL header: what a complaint report needs to be tied back to the message
 * we sent, carried in the message itself (as ESPs do: SparkPost's X-MSFBL, SendGrid's
 * X-SG-EID), because providers redact the recipient (Yahoo CFL, Microsoft JMRP) and the
 * spool forgot the message long ago. The value is opaque and authenticated: AES-256-GCM
 * over the queue id, class, pinned pool, campaign and (for a one-recipient message) the
 * recipient, so a reader learns nothing and nobody can forge a reference to another
 * message or address. Format: `1.<base64url(iv ‖ ciphertext ‖ tag)>`.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const FEEDBACK_HEADER = 'X-Sluice-FBL';

export interface FeedbackRef {
  readonly queueId: string;
  readonly class: string;
  readonly pool: string | null;
  readonly campaign: string | null;
  /** The recipient when the message had exactly one; else null. */
  readonly recipient: string | null;
}

const VERSION = '1';
const IV = 12;
const TAG = 16;

export class FeedbackTokens {
  readonly #key: Buffer;

  /** `secret`: the configured secret or the node's generated key (any length ≥ 16 bytes). */
  constructor(secret: string | Buffer) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'sluice-fbl', 'X-Sluice-FBL v1', 32));
  }

  encode(ref: FeedbackRef): string {
    const plain = Buffer.from(JSON.stringify([ref.queueId, ref.class, ref.pool, ref.campaign, ref.recipient]), 'utf8');
    const iv = randomBytes(IV);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${sealed.toString('base64url')}`;
  }

  /** Null for anything that is not a token this key wrote (another key, tampering, junk). */
  decode(token: string): FeedbackRef | null {
    const m = /^1\.([A-Za-z0-9_-]+)$/.exec(token.replace(/\s+/g, ''));
    if (!m?.[1]) return null;
    const sealed = Buffer.from(m[1], 'base64url');
    if (sealed.length < IV + TAG + 2) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, IV));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
      const plain = Buffer.concat([decipher.update(sealed.subarray(IV, sealed.length - TAG)), decipher.final()]);
      return refOf(JSON.parse(plain.toString('utf8')) as unknown);
    } catch {
      return null;
    }
  }
}

function refOf(v: unknown): FeedbackRef | null {
  if (!Array.isArray(v) || v.length !== 5) return null;
  const [queueId, klass, pool, campaign, recipient] = v as unknown[];
  const strOrNull = (x: unknown): x is string | null => x === null || typeof x === 'string';
  if (typeof queueId !== 'string' || typeof klass !== 'string' || !strOrNull(pool) || !strOrNull(campaign) || !strOrNull(recipient)) return null;
  return { queueId, class: klass, pool, campaign, recipient };
}
