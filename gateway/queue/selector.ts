/**
 * Queue selectors (issue 17): which queued mail an inspection or an action is about. A
 * selector names any of eight keys, combined with AND; values compare exactly, except
 * domains, senders and providers, which compare case-insensitively (RFC 5321 §2.4: the
 * domain part is case-insensitive, and we lower-case the sender's whole address as the
 * suppression list does).
 */
export const SELECTOR_KEYS = ['domain', 'provider', 'campaign', 'sender', 'pool', 'source', 'class', 'queue_id'] as const;
export type SelectorKey = (typeof SELECTOR_KEYS)[number];
export type Selector = Partial<Record<SelectorKey, string>>;

import type { Selectable } from './types.js';

/** What a selector is matched against: one index entry (see index.ts). */
export type { Selectable };

const FOLDED: ReadonlySet<SelectorKey> = new Set(['domain', 'sender', 'provider']);

/** A selector input that is not one: the admin API answers 400 with `message`. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

/**
 * Checks an untrusted selector (a JSON object or query parameters): known keys only,
 * non-empty strings of at most 254 characters without control characters.
 */
export function parseSelector(input: unknown): Selector {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new SelectorError('selector: expected an object such as {"domain": "example.com"}');
  const out: Selector = {};
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (!(SELECTOR_KEYS as readonly string[]).includes(key)) throw new SelectorError(`selector: unknown key "${key.slice(0, 40)}" (known: ${SELECTOR_KEYS.join(', ')})`);
    if (typeof value !== 'string' || value.trim() === '' || value.length > 254 || /[\u0000-\u001f\u007f]/.test(value)) {
      throw new SelectorError(`selector.${key}: expected a non-empty string of at most 254 characters`);
    }
    const k = key as SelectorKey;
    out[k] = FOLDED.has(k) ? value.trim().toLowerCase() : value.trim();
  }
  return out;
}

export function isEmpty(s: Selector): boolean {
  return Object.keys(s).length === 0;
}

/** True when `e` matches every key `s` names. */
export function matches(s: Selector, e: Selectable): boolean {
  if (s.queue_id !== undefined && e.id !== s.queue_id) return false;
  if (s.domain !== undefined && e.domain !== s.domain) return false;
  if (s.provider !== undefined && e.provider !== s.provider) return false;
  if (s.campaign !== undefined && e.campaign !== s.campaign) return false;
  if (s.sender !== undefined && e.sender !== s.sender) return false;
  if (s.pool !== undefined && e.pool !== s.pool) return false;
  if (s.source !== undefined && e.source !== s.source) return false;
  if (s.class !== undefined && e.cls !== s.class) return false;
  return true;
}

/** A selector as one line of text, for logs and the CLI ("domain=a.test campaign=c1"). */
export function describe(s: Selector): string {
  const parts = Object.entries(s).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '(all mail)' : parts.join(' ');
}

export function sameSelector(a: Selector, b: Selector): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k as SelectorKey] === b[k as SelectorKey]);
}
