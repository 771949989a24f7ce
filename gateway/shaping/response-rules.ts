/**
 * [[providers.X.rules]]: what to do when a provider says something specific. `match`
 * is an enhanced status code ("4.7.28", matched at the start of the reply's code) or a
 * regular expression (anything else, matched case-insensitively against the whole reply).
 */
import type { ResponseRuleConfig } from '../config/schema.js';
import type { Response } from '../delivery/response.js';
import { formatResponse } from '../delivery/response.js';
import { parseRuleMatch } from '../config/response-match.js';
// What a match says is the delivery agent's (delivery/agent-ports.ts), which acts on it.
import type { RuleHit } from '../delivery/agent-ports.js';

const DEFAULT_HOLD_MS = 30 * 60_000;
const parsed = new Map<string, ReturnType<typeof parseRuleMatch>>();

export function matchRule(rules: readonly ResponseRuleConfig[], response: Response): RuleHit | null {
  if (response.local) return null;
  const text = formatResponse(response);
  for (const rule of rules) {
    if (ruleMatches(rule.match, response, text)) return { action: rule.action, durationMs: rule.duration ?? DEFAULT_HOLD_MS, match: rule.match };
  }
  return null;
}

function ruleMatches(match: string, response: Response, text: string): boolean {
  let m = parsed.get(match);
  if (m === undefined) {
    m = parseRuleMatch(match);
    parsed.set(match, m);
  }
  switch (m.kind) {
    case 'enhanced':
      return response.enhanced === m.text;
    case 'code':
      return String(response.code) === m.text;
    case 'regex':
      return m.re.test(text);
    case 'invalid':
      return false;
  }
}
