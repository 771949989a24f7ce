import { SluiceError } from '../../errors.js';
import type { SuppressionReason } from '../types.js';

/** The closed list of reasons, in a fixed order: both backends store the index. */
export const SUPPRESSION_REASONS: readonly SuppressionReason[] = [
  'unsubscribe',
  'hard-bounce',
  'complaint',
  'manual',
];

export function reasonIndex(reason: SuppressionReason): number {
  const index = SUPPRESSION_REASONS.indexOf(reason);
  if (index < 0) throw new SluiceError('USAGE', `unknown suppression reason "${String(reason)}"`);
  return index;
}

export function reasonAt(index: number): SuppressionReason {
  const reason = SUPPRESSION_REASONS[index];
  if (reason === undefined) throw new SluiceError('STATE_UNAVAILABLE', `corrupt suppression reason ${index}`);
  return reason;
}

// Tabs and line breaks are field and record separators in the embedded log; RFC 5321
// §4.1.2 allows neither in an address (not even quoted), so rejecting them loses nothing.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The key an entry is stored under: the lower-cased address, or `@domain`. */
export function suppressionKey(address: string): string {
  const key = address.trim().toLowerCase();
  if (key === '' || key === '@' || CONTROL.test(key)) {
    throw new SluiceError('USAGE', `not a suppressible address: ${JSON.stringify(address)}`);
  }
  return key;
}

/** `@domain` for `user@domain`; null when the key is already a domain or has no domain. */
export function domainKeyOf(key: string): string | null {
  if (key.startsWith('@')) return null;
  const at = key.lastIndexOf('@');
  if (at < 0 || at === key.length - 1) return null;
  return key.slice(at);
}

/** Who added an entry: free text from a CLI or a plugin, kept single-line. */
export function cleanSource(source: string): string {
  return source.replace(/[\u0000-\u001f\u007f]/g, ' ');
}
