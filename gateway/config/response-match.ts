/**
 * The syntax of a [[providers.X.rules]] `match`: an enhanced status code ("4.7.28",
 * RFC 3463), a reply code ("421"), or else a regular expression. Loading checks it here;
 * shaping/response-rules.ts matches replies with the same reading.
 */
export type RuleMatch = { readonly kind: 'enhanced' | 'code'; readonly text: string } | { readonly kind: 'regex'; readonly re: RegExp };

export function parseRuleMatch(match: string): RuleMatch | { readonly kind: 'invalid'; readonly error: string } {
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(match)) return { kind: 'enhanced', text: match };
  if (/^[245]\d\d$/.test(match)) return { kind: 'code', text: match };
  try {
    return { kind: 'regex', re: new RegExp(match, 'i') };
  } catch (err) {
    return { kind: 'invalid', error: (err as Error).message };
  }
}

/** Config-time check of a rule's `match`, for check-config and loading. */
export function ruleMatchError(match: string): string | null {
  const m = parseRuleMatch(match);
  return m.kind === 'invalid' ? `not an enhanced code and not a valid regular expression: ${m.error}` : null;
}
