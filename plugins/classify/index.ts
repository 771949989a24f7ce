/**
 * classify: gives each message its class (and, when a rule says so, its pool and
 * priority) at the end of DATA, from `[[classify.rules]]` or, for authenticated
 * clients when `trust_header` is on, from an `X-Sluice-Class` header. The router then
 * picks the pool: the one a rule pinned, a `[[routes]]` rule, or the pool named like
 * the class.
 */
import { definePlugin, type DataCtx, type Plugin, type Verdict } from '../../gateway/plugin-host/public.js';
import { CLASS_NAME, configSchema, type ClassifyConfig } from './config.js';
import { compileRules, type CompiledRule, type MatchInput } from './rules.js';

export { configSchema } from './config.js';

/** The header an authenticated app may name the class in; the node strips it before spooling. */
export const CLASS_HEADER = 'X-Sluice-Class';

/**
 * A fresh classify plugin. The compiled rules live in this closure: hooks get the
 * validated `[classify]` table as ctx.config; the regular expressions are not part of it.
 */
export function createClassifyPlugin(): Plugin<ClassifyConfig> {
  let rules: readonly CompiledRule[] = [];
  return definePlugin<ClassifyConfig>({
    name: 'classify',
    configSchema,
    setup(ctx) {
      // The host has validated the table already (and reports every issue with file and
      // key); this only guards a direct call with a raw table.
      const result = configSchema.safeParse(ctx.config ?? {});
      if (!result.success) {
        const issue = result.error.issues[0];
        throw new Error(`${ctx.configFile} classify.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
      }
      const parsed = result.data;
      rules = compileRules(parsed.rules);
      ctx.log.info({ event: 'classify_ready', rules: rules.length, default_class: parsed.default, trust_header: parsed.trust_header });
      return parsed;
    },
    hooks: {
      data(ctx) {
        return classify(ctx, rules);
      },
    },
  });
}

function classify(ctx: DataCtx<ClassifyConfig>, rules: readonly CompiledRule[]): Verdict {
  const tx = ctx.transaction;
  const fromHeader = ctx.config.trust_header ? trustedHeaderClass(ctx) : null;
  if (fromHeader !== null) {
    tx.class = fromHeader;
    ctx.log.debug({ event: 'classified', class: fromHeader, by: CLASS_HEADER });
    return ctx.next();
  }
  const input: MatchInput = {
    mailFrom: tx.mailFrom,
    rcpts: tx.rcpts,
    authUser: ctx.connection.authUser,
    remoteAddress: ctx.connection.remoteAddress,
    header: (name) => ctx.message.headers.getAll(name),
  };
  const rule = rules.find((r) => r.matches(input));
  if (rule === undefined) {
    tx.class = ctx.config.default;
    ctx.log.debug({ event: 'classified', class: tx.class, by: 'default' });
    return ctx.next();
  }
  tx.class = rule.class;
  if (rule.pool !== null) tx.pool = rule.pool;
  if (rule.priority !== null) tx.priority = rule.priority;
  ctx.log.debug({ event: 'classified', class: rule.class, by: `rules[${rule.index}]`, pool: rule.pool, priority: rule.priority });
  return ctx.next();
}

/**
 * The class an authenticated client asked for, or null. A relay client without AUTH is
 * identified by its address only, and anybody on that network could set the header:
 * it is ignored then (and stripped all the same by the node).
 */
function trustedHeaderClass(ctx: DataCtx<ClassifyConfig>): string | null {
  const value = ctx.message.headers.get(CLASS_HEADER);
  if (value === null) return null;
  if (ctx.connection.authUser === null) {
    ctx.log.debug({ event: 'class_header_ignored', reason: 'not authenticated' });
    return null;
  }
  const wanted = value.trim().toLowerCase();
  if (!CLASS_NAME.test(wanted)) {
    ctx.log.warn({ event: 'class_header_ignored', reason: 'not a class name', user: ctx.connection.authUser, value: value.slice(0, 80) }, `${CLASS_HEADER} must be a class name made of a-z, 0-9, "_" and "-"`);
    return null;
  }
  return wanted;
}

export default createClassifyPlugin();
