/**
 * `[[classify.rules]]` compiled once at setup: globs become regular expressions,
 * networks are parsed. Every field a rule gives must match (AND); the first rule that
 * matches decides.
 */
import type { ClassifyRule } from './config.js';
import { NetworkList } from '../../gateway/plugin-host/public.js';

/** What a rule looks at: known at the end of DATA. */
export interface MatchInput {
  readonly mailFrom: string;
  readonly rcpts: readonly string[];
  readonly authUser: string | null;
  readonly remoteAddress: string;
  /** Every value of a header field, unfolded (Headers.getAll). */
  readonly header: (name: string) => readonly string[];
}

export interface CompiledRule {
  readonly index: number;
  readonly class: string;
  readonly pool: string | null;
  readonly priority: number | null;
  matches(input: MatchInput): boolean;
}

type Test = (input: MatchInput) => boolean;

/** Case-insensitive glob: "*" any run (also empty), "?" one character; "*" alone matches anything. */
export function globToRegExp(pattern: string): RegExp {
  const src = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${src}$`, 'is');
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

export function compileRules(rules: readonly ClassifyRule[]): CompiledRule[] {
  return rules.map((rule, index) => {
    const tests = testsOf(rule);
    return {
      index,
      class: rule.class,
      pool: rule.pool ?? null,
      priority: rule.priority ?? null,
      matches: (input) => tests.every((t) => t(input)),
    };
  });
}

function testsOf(rule: ClassifyRule): Test[] {
  const tests: Test[] = [];
  for (const [name, pattern] of Object.entries(rule.header ?? {})) {
    if (pattern === '*') {
      tests.push((i) => i.header(name).length > 0);
    } else {
      const re = globToRegExp(pattern);
      tests.push((i) => i.header(name).some((v) => re.test(v)));
    }
  }
  if (rule.sender !== undefined) {
    const re = globToRegExp(rule.sender);
    tests.push((i) => re.test(i.mailFrom));
  }
  if (rule.auth_user !== undefined) {
    const re = globToRegExp(rule.auth_user);
    tests.push((i) => i.authUser !== null && re.test(i.authUser));
  }
  if (rule.client_network !== undefined) {
    // The schema has checked every entry parses.
    const nets = new NetworkList(rule.client_network);
    tests.push((i) => nets.contains(i.remoteAddress));
  }
  if (rule.recipient_domain !== undefined) {
    const re = globToRegExp(rule.recipient_domain);
    tests.push((i) => i.rcpts.some((r) => re.test(domainOf(r))));
  }
  return tests;
}
