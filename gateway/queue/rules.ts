/**
 * Queue rules (issue 17): holds and rebinds an operator set with a selector. They
 * catch mail already queued and mail that arrives later, until they expire or are
 * lifted. Kept in the node's data dir (queue-rules.json, rewritten on each change) so
 * that a restart does not release held mail. A hold rule was kind `suspend` before
 * (README "Words"): a file written then still loads, its rules as holds.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { describe, matches, sameSelector, type Selectable, type Selector } from './selector.js';

export interface QueueRule {
  readonly id: string;
  readonly kind: 'hold' | 'rebind';
  readonly selector: Selector;
  /** Rebind: the pool the mail leaves from. */
  readonly pool?: string;
  /** Epoch ms the rule lapses; null: until lifted. */
  readonly until: number | null;
  readonly by: string;
  readonly at: number;
}

export interface RuleView {
  readonly id: string;
  readonly kind: 'hold' | 'rebind';
  readonly selector: Selector;
  readonly pool: string | null;
  readonly until: string | null;
  readonly by: string;
  readonly created: string;
}

export class QueueRules {
  private rules: QueueRule[] = [];
  private seq = 0;
  /** Saves run one after another: two rename()s of the temp file must not cross. */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | null, private readonly now: () => number) {}

  /** Reads the rules a previous run left; a missing or unreadable file means none. */
  load(): void {
    if (this.file === null) return;
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (Array.isArray(parsed)) this.rules = parsed.flatMap(ruleFrom);
    } catch {
      this.rules = [];
    }
    this.prune();
  }

  list(): readonly QueueRule[] {
    this.prune();
    return this.rules;
  }

  views(): RuleView[] {
    return this.list().map((r) => ({ id: r.id, kind: r.kind, selector: r.selector, pool: r.pool ?? null, until: r.until === null ? null : new Date(r.until).toISOString(), by: r.by, created: new Date(r.at).toISOString() }));
  }

  /** Adds a rule; one with the same kind and selector is replaced (a new duration, a new pool). */
  async add(kind: QueueRule['kind'], selector: Selector, until: number | null, by: string, pool?: string): Promise<QueueRule> {
    const rule: QueueRule = { id: `${kind}-${this.now().toString(36)}-${(++this.seq).toString(36)}`, kind, selector, until, by, at: this.now(), ...(pool !== undefined ? { pool } : {}) };
    this.rules = [...this.rules.filter((r) => !(r.kind === kind && sameSelector(r.selector, selector))), rule];
    await this.save();
    return rule;
  }

  /** Lifts the rules of `kind` whose selector is `selector` (every one with `all`); returns them. */
  async lift(kind: QueueRule['kind'], selector: Selector, all: boolean): Promise<QueueRule[]> {
    const lifted = this.rules.filter((r) => r.kind === kind && (all || sameSelector(r.selector, selector)));
    if (lifted.length === 0) return [];
    this.rules = this.rules.filter((r) => !lifted.includes(r));
    await this.save();
    return lifted;
  }

  /** The hold rule holding `e`, if any. */
  holding(e: Selectable): QueueRule | null {
    const now = this.now();
    for (const r of this.rules) if (r.kind === 'hold' && (r.until === null || r.until > now) && matches(r.selector, e)) return r;
    return null;
  }

  /** The pool a rebind sends `e` to, if any (the newest rule wins). */
  rebind(e: Selectable): string | null {
    const now = this.now();
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const r = this.rules[i] as QueueRule;
      if (r.kind === 'rebind' && (r.until === null || r.until > now) && matches(r.selector, e)) return r.pool ?? null;
    }
    return null;
  }

  /** When the next rule lapses (epoch ms), or null. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const r of this.rules) if (r.until !== null && (next === null || r.until < next)) next = r.until;
    return next;
  }

  /** Drops lapsed rules; returns them. */
  prune(): QueueRule[] {
    const now = this.now();
    const gone = this.rules.filter((r) => r.until !== null && r.until <= now);
    if (gone.length > 0) {
      this.rules = this.rules.filter((r) => !gone.includes(r));
      void this.save().catch(() => undefined);
    }
    return gone;
  }

  private save(): Promise<void> {
    const file = this.file;
    if (file === null) return Promise.resolve();
    const next = this.saving.catch(() => undefined).then(async () => {
      const tmp = `${file}.tmp`;
      await writeFile(tmp, JSON.stringify(this.rules));
      await rename(tmp, file);
    });
    this.saving = next;
    return next;
  }
}

export function ruleText(r: QueueRule): string {
  return `${r.kind} ${describe(r.selector)}${r.pool ? ` -> ${r.pool}` : ''}`;
}

/** A rule as the file keeps it (kind `suspend`, a hold's older name, read as `hold`); none when it is not one. */
function ruleFrom(v: unknown): QueueRule[] {
  const r = v as Omit<QueueRule, 'kind'> & { kind: unknown };
  if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.selector !== 'object' || !(r.until === null || typeof r.until === 'number')) return [];
  if (r.kind === 'hold' || r.kind === 'suspend') return [{ ...r, kind: 'hold' }];
  return r.kind === 'rebind' ? [{ ...r, kind: 'rebind' }] : [];
}
