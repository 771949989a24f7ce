// subject-filter: an example Sluice plugin. Copy it, rename it, change it.
//
// It refuses messages whose Subject matches a configured pattern (550 5.7.1 at the end
// of DATA) and tags messages with a campaign id from their Subject, so metrics and the
// event log can be broken down per campaign without the app sending X-Campaign-ID.
//
// A plugin is a plain ES module whose default export is { name, configSchema?, setup?,
// hooks }. It needs no import at all; in TypeScript, `definePlugin` from "sluice/plugin"
// gives the same object its types:
//
//   import { definePlugin } from 'sluice/plugin';
//   export default definePlugin<MyConfig>({ name: 'subject-filter', hooks: { ... } });
//
// Load it by path in the config (relative paths resolve against the config file's
// directory); its table is named after the file, here [subject-filter]:
//
//   [plugins]
//   order = ["suppression", "./plugins/subject-filter.mjs", "classify", "dkim"]
//   timeout = "5s"            # per hook call; a slower hook fails closed (451 4.3.0)
//
//   [subject-filter]
//   reject = ["lottery", "you have won"]           # regular expressions, case-insensitive
//   reject_text = "Message refused by content policy"
//
//   [[subject-filter.campaigns]]
//   subject = "^Weekly digest"                     # a regular expression, case-insensitive
//   campaign = "weekly-digest"

/** @typedef {{ reject: string[], reject_text: string, campaigns: { subject: string, campaign: string }[] }} Table */
/** @typedef {{ reject: RegExp[], rejectText: string, campaigns: { subject: RegExp, campaign: string }[] }} Compiled */

const TABLE_KEYS = ['reject', 'reject_text', 'campaigns'];
const CAMPAIGN_KEYS = ['subject', 'campaign'];

/**
 * Checks the [subject-filter] table before setup runs. Anything with a zod-like
 * `safeParse(input)` works (a zod schema is the usual choice); this one is written by
 * hand so the file needs no dependency. Each issue names its key (`path`); the node
 * refuses to start and prints every issue as "<config file> subject-filter.<key>:
 * <message>", and `sluice check-config` lists them the same way.
 */
export const configSchema = {
  /** @param {unknown} input */
  safeParse(input) {
    /** @type {{ path: (string|number)[], message: string }[]} */
    const issues = [];
    const t = /** @type {Record<string, unknown>} */ (input ?? {});
    if (typeof t !== 'object' || Array.isArray(t)) return { success: false, error: { issues: [{ path: [], message: 'expected a table' }] } };
    for (const key of Object.keys(t)) {
      if (!TABLE_KEYS.includes(key)) issues.push({ path: [key], message: `unknown key (known keys: ${TABLE_KEYS.join(', ')})` });
    }
    const reject = t.reject ?? [];
    if (!Array.isArray(reject) || reject.some((p) => typeof p !== 'string')) issues.push({ path: ['reject'], message: 'expected a list of regular expressions (strings)' });
    else reject.forEach((p, i) => checkPattern(p, ['reject', i], issues));
    const rejectText = t.reject_text ?? 'Message refused by content policy';
    if (typeof rejectText !== 'string' || /[\r\n]/.test(rejectText)) issues.push({ path: ['reject_text'], message: 'expected one line of text' });
    const campaigns = t.campaigns ?? [];
    if (!Array.isArray(campaigns)) issues.push({ path: ['campaigns'], message: 'expected [[subject-filter.campaigns]] tables' });
    else {
      campaigns.forEach((c, i) => {
        for (const key of Object.keys(c ?? {})) {
          if (!CAMPAIGN_KEYS.includes(key)) issues.push({ path: ['campaigns', i, key], message: `unknown key (known keys: ${CAMPAIGN_KEYS.join(', ')})` });
        }
        if (typeof c?.subject !== 'string') issues.push({ path: ['campaigns', i, 'subject'], message: 'required: a regular expression' });
        else checkPattern(c.subject, ['campaigns', i, 'subject'], issues);
        if (typeof c?.campaign !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(c.campaign)) issues.push({ path: ['campaigns', i, 'campaign'], message: 'required: letters, digits, ".", "_" and "-"' });
      });
    }
    if (issues.length > 0) return { success: false, error: { issues } };
    /** @type {Table} */
    const data = { reject: /** @type {string[]} */ (reject), reject_text: /** @type {string} */ (rejectText), campaigns: /** @type {Table['campaigns']} */ (campaigns) };
    return { success: true, data };
  },
};

/**
 * @param {string} pattern
 * @param {(string|number)[]} path
 * @param {{ path: (string|number)[], message: string }[]} issues
 */
function checkPattern(pattern, path, issues) {
  try {
    new RegExp(pattern, 'i');
  } catch (err) {
    issues.push({ path, message: `not a regular expression: ${/** @type {Error} */ (err).message}` });
  }
}

export default {
  // The name is used in logs ({"plugin":"subject-filter",…}), in the
  // sluice_plugin_failures_total metric, and to find the config table.
  name: 'subject-filter',

  configSchema,

  /**
   * Runs once at start, after configSchema has checked the table. ctx has:
   *   config      the validated table (what safeParse returned as `data`)
   *   configFile  the config file's path, for error messages
   *   baseDir     where relative paths in the config resolve from
   *   log         a logger (debug/info/warn/error); lines carry "plugin":"subject-filter"
   *   state       the node's shared state (state.suppression is the suppression list)
   *   metrics     the node's prom-client Registry, to register your own sluice_* metrics
   * Whatever setup returns becomes ctx.config in every hook: compile things here once.
   * A setup that throws stops the node from starting: do it for a config you cannot use.
   *
   * @param {{ config: Table, log: { info(o: object, m?: string): void } }} ctx
   * @returns {Compiled}
   */
  setup(ctx) {
    const compiled = {
      reject: ctx.config.reject.map((p) => new RegExp(p, 'i')),
      rejectText: ctx.config.reject_text,
      campaigns: ctx.config.campaigns.map((c) => ({ subject: new RegExp(c.subject, 'i'), campaign: c.campaign })),
    };
    ctx.log.info({ event: 'subject_filter_ready', patterns: compiled.reject.length, campaigns: compiled.campaigns.length });
    return compiled;
  },

  // Verdict hooks. Each receives a ctx and returns (or resolves to) a verdict made by one
  // of ctx's helpers; the hooks of all plugins run in [plugins] order and the first
  // verdict that is not next() decides:
  //   ctx.next()                          no opinion: ask the next plugin (then: go on)
  //   ctx.accept()                        yes, and skip the plugins after this one
  //   ctx.reject(550, '5.7.1', 'text')    permanent refusal: "550 5.7.1 text" on the wire
  //   ctx.defer(451, '4.7.1', 'text')     temporary refusal: the client retries later
  //   ctx.drop('reason')                  pretend to accept; the mail is never delivered
  //                                       and reported as a `suppressed` outcome
  // A hook that throws, returns something else, or runs longer than [plugins] timeout
  // fails closed: the client gets "451 4.3.0 Local error in processing, try again later",
  // the error is logged with the plugin's name and the node goes on serving.
  //
  // Every ctx has: connection { id, remoteAddress, remotePort, helo, authUser, tls, mode,
  // listener }, log, config. The hooks and what else their ctx carries:
  //   connect(ctx)   a client connected                       (reply replaces the greeting)
  //   helo(ctx)      ctx.helo: the EHLO/HELO name             (runs before the first MAIL)
  //   mail(ctx)      ctx.mailFrom: the sender, '' for <>     (reply to MAIL FROM)
  //   rcpt(ctx)      ctx.rcpt, ctx.transaction                (reply to this RCPT TO only)
  //   data(ctx)      ctx.transaction, ctx.message             (reply to the end of DATA)
  //   queued(ctx)    ctx.transaction, ctx.message, ctx.queueId: the message is safely
  //                  spooled; the verdict is ignored (it is too late to refuse)
  hooks: {
    /**
     * The end of DATA. ctx.message.headers reads and edits the header block (get, getAll,
     * set, add, remove); edits are what gets spooled and delivered. ctx.transaction
     * { mailFrom, rcpts, class, pool, priority, campaign } may be changed here: class,
     * pool, priority and campaign travel with the message to routing and metrics.
     *
     * @param {any} ctx
     */
    data(ctx) {
      /** @type {Compiled} */
      const config = ctx.config;
      const subject = ctx.message.headers.get('Subject') ?? '';
      if (config.reject.some((re) => re.test(subject))) {
        ctx.log.info({ event: 'subject_rejected', from: ctx.transaction.mailFrom, subject: subject.slice(0, 100) });
        return ctx.reject(550, '5.7.1', config.rejectText);
      }
      // An X-Campaign-ID from the app wins (the node has already put it in campaign).
      if (ctx.transaction.campaign === null) {
        const hit = config.campaigns.find((c) => c.subject.test(subject));
        if (hit) ctx.transaction.campaign = hit.campaign;
      }
      return ctx.next();
    },

    // Outcome observers: called after the fact for each recipient, never awaited, their
    // return value ignored. They cannot change anything; use them to count, log or
    // notify. The event: { queueId, messageId, recipient, mailFrom, class, pool, source,
    // provider, mx, reply, enhanced, attempt, at }. Also: deferred, bounced, complained,
    // suppressed. Keep them fast; start async work without awaiting it, and catch its
    // errors yourself.
    /**
     * @param {{ queueId: string, recipient: string, attempt: number }} e
     * @param {any} ctx
     */
    delivered(e, ctx) {
      ctx.log.debug({ event: 'subject_filter_delivered', queue_id: e.queueId, rcpt: e.recipient, attempt: e.attempt });
    },
  },
};
