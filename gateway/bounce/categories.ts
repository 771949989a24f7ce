/**
 * Bounce categories from enhanced status codes (RFC 3463, IANA registry). A hard bounce
 * says the address itself is bad, so mail to it should stop: the suppression list
 * learns it. Policy and reputation refusals (5.7.x) are not hard bounces.
 */
import type { Response } from '../delivery/response.js';

const HARD = new Set([
  '5.1.1', // bad destination mailbox address
  '5.1.2', // bad destination system address
  '5.1.3', // bad destination mailbox address syntax
  '5.1.6', // destination mailbox has moved, no forwarding address
  '5.1.10', // recipient address has null MX (RFC 7505)
  '5.2.1', // mailbox disabled, not accepting messages
]);

export type BounceCategory = 'hard' | 'mailbox-full' | 'policy' | 'content' | 'other';

export function categorise(r: Response): BounceCategory {
  const e = r.enhanced ?? '';
  if (HARD.has(e)) return 'hard';
  if (e === '5.2.2' || e === '4.2.2') return 'mailbox-full';
  if (e.startsWith('5.7.') || e.startsWith('4.7.')) return 'policy';
  if (e.startsWith('5.6.') || e === '5.3.4') return 'content';
  return 'other';
}

export function isHardBounce(r: Response): boolean {
  return r.code >= 500 && !r.local && categorise(r) === 'hard';
}
