/**
 * Synchronous replies through the one bounce classifier (classify.ts, rules in
 * config/bounce-rules.toml): a remote MX's reply to a delivery attempt gets the same
 * reason and hard/soft verdict as the same words in a bounce mailed back later. A hard
 * bounce says the address itself is bad, so mail to it should stop: the suppression list
 * learns it. Policy and reputation refusals are not hard bounces.
 */
import type { Response } from '../delivery/response.js';
import { BounceClassifier, type Classification } from './classify.js';
import { loadBounceRules, shippedRulesPath } from './rules.js';

let shipped: BounceClassifier | null = null;

/** The shipped rules, read on first use (never at import). */
export function shippedClassifier(): BounceClassifier {
  shipped ??= new BounceClassifier(loadBounceRules([shippedRulesPath()]));
  return shipped;
}

export function classifyResponse(r: Response, classifier: BounceClassifier = shippedClassifier()): Classification {
  return classifier.classify({ status: r.enhanced, replyCode: r.code, diagnostic: r.text, command: commandOf(r.command) });
}

export function isHardBounce(r: Response, classifier?: BounceClassifier): boolean {
  return r.code >= 500 && !r.local && classifyResponse(r, classifier).hard;
}

/** The command a reply answered, in the rules' words (CONN, EHLO, MAIL, RCPT, DATA). */
function commandOf(command: string | null): string | null {
  const c = (command ?? '').toUpperCase();
  if (c.startsWith('MAIL')) return 'MAIL';
  if (c.startsWith('RCPT')) return 'RCPT';
  if (c.startsWith('DATA') || c === 'MESSAGE' || c === '.') return 'DATA';
  if (c.startsWith('EHLO') || c.startsWith('HELO') || c.startsWith('LHLO')) return 'EHLO';
  if (c === 'CONN' || c === 'CONNECT' || c === 'GREETING' || c === 'BANNER') return 'CONN';
  return null;
}
