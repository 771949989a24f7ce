/**
 * [[providers.X.rules]]: what to do when a provider says something specific. `match`
 * is an enhanced status code ("4.7.28", matched at the start of the reply's code) or a
 * regular expression (anything else, matched case-insensitively against the whole reply).
 */
import type { ResponseRuleConfig } from '../config/schema.js';
import type { Response } from '../delivery/response.js';
import { formatResponse } from '../delivery/response.js';

export type RuleAction = ResponseRuleConfig['action'];

export interface RuleHit {
  readonly action: RuleAction;
  readonly durationMs: number;
  readonly match: string;
}

const DEFAULT_SUSPEND_MS = 30 * 60_000;
const regexCache = new Map<string, RegExp | null>();

export function matchRule(rules: readonly ResponseRuleConfig[], response: Response): RuleHit | null {
  if (response.local) return null;
  const text = formatResponse(response);
  for (const rule of rules) {
    if (ruleMatches(rule.match, response, text)) return { action: rule.action, durationMs: rule.duration ?? DEFAULT_SUSPEND_MS, match: rule.match };
  }
  return null;
}

function ruleMatches(match: string, response: Response, text: string): boolean {
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(match)) return response.enhanced === match;
  if (/^[245]\d\d$/.test(match)) return String(response.code) === match;
  let re = regexCache.get(match);
  if (re === undefined) {
    try {
      re = new RegExp(match, 'i');
    } catch {
      re = null;
    }
    regexCache.set(match, re);
  }
  return re !== null && re.test(text);
}

/** Config-time check of a rule's `match`, for check-config. */
export function ruleMatchError(match: string): string | null {
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(match) || /^[245]\d\d$/.test(match)) return null;
  try {
    new RegExp(match, 'i');
    return null;
  } catch (err) {
    return `not an enhanced code and not a valid regular expression: ${(err as Error).message}`;
  }
}
