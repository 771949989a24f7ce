/**
 * suppression: refuses (or silently drops) recipients on the suppression list at RCPT
 * TO, through the node's state backend (`ctx.state.suppression`, embedded or Redis),
 * and adds the addresses of complaints to it. The node itself adds hard bounces and
 * checks the list again at delivery time.
 */
import { definePlugin, type ObserverCtx, type OutcomeEvent, type Plugin, type RcptCtx, type SetupCtx, type Verdict } from '../../gateway/plugin-host/public.js';
import { configSchema, type SuppressionConfig } from './config.js';

/** The node's store, as the public API hands it to setup (gateway/state/types.ts). */
type SuppressionStore = SetupCtx['state']['suppression'];
type SuppressionEntry = Parameters<SuppressionStore['add']>[0][number];

export { configSchema } from './config.js';

/** RFC 3463 §3.8: 5.7.1 "delivery not authorized, message refused". */
export const REJECT = { code: 550, enhanced: '5.7.1' } as const;
/** RFC 3463 §3.5: 4.3.0 "other or undefined mail system status": try again later. */
export const UNAVAILABLE = { code: 451, enhanced: '4.3.0', text: 'Suppression list unavailable, try again later' } as const;

/**
 * A fresh suppression plugin. The store comes from setup (the node's state backend) and
 * lives in this closure; hooks get the validated `[suppression]` table as ctx.config.
 */
export function createSuppressionPlugin(): Plugin<SuppressionConfig> {
  let store: SuppressionStore | null = null;
  return definePlugin<SuppressionConfig>({
    name: 'suppression',
    configSchema,
    setup(ctx) {
      const result = configSchema.safeParse(ctx.config ?? {});
      if (!result.success) {
        // The host validates first; this only guards a direct call with a raw table.
        const issue = result.error.issues[0];
        throw new Error(`${ctx.configFile} suppression.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
      }
      store = ctx.state.suppression;
      ctx.log.info({ event: 'suppression_ready', action: result.data.action, check_domain: result.data.check_domain, backend: ctx.state.kind });
      return result.data;
    },
    hooks: {
      rcpt: (ctx) => checkRecipient(ctx, store),
      complained: (e, ctx) => addComplaint(e, ctx, store),
    },
  });
}

async function checkRecipient(ctx: RcptCtx<SuppressionConfig>, store: SuppressionStore | null): Promise<Verdict> {
  if (store === null) throw new Error('suppression: rcpt hook ran before setup');
  let entry: SuppressionEntry | null;
  try {
    entry = await store.check(ctx.rcpt.toLowerCase());
  } catch (err) {
    // Never accept what cannot be checked: the client retries, the list may be back.
    ctx.log.warn({ event: 'suppression_unavailable', err, rcpt: ctx.rcpt }, 'suppression list unavailable: deferring the recipient');
    return ctx.defer(UNAVAILABLE.code, UNAVAILABLE.enhanced, UNAVAILABLE.text);
  }
  if (entry === null) return ctx.next();
  // check() returns the address entry before the domain one, so a domain entry here
  // means the address itself is not listed.
  if (entry.address.startsWith('@') && !ctx.config.check_domain) return ctx.next();
  ctx.log.info({ event: 'recipient_suppressed', rcpt: ctx.rcpt, entry: entry.address, reason: entry.reason, action: ctx.config.action });
  if (ctx.config.action === 'drop') return ctx.drop(`suppressed: ${entry.reason}`);
  return ctx.reject(REJECT.code, REJECT.enhanced, `Recipient suppressed: ${entry.reason}`);
}

/** A complaint (feedback loop) means "never again": the address goes on the list. */
function addComplaint(e: OutcomeEvent, ctx: ObserverCtx<SuppressionConfig>, store: SuppressionStore | null): void {
  if (store === null || !e.recipient.includes('@')) return;
  const entry: SuppressionEntry = { address: e.recipient.toLowerCase(), reason: 'complaint', source: complaintSource(e), at: e.at };
  // Observers are never awaited: the write runs on and reports its own failure.
  store.add([entry]).then(
    () => ctx.log.info({ event: 'suppression_added', rcpt: entry.address, reason: 'complaint', queue_id: e.queueId }),
    (err: unknown) => ctx.log.warn({ event: 'suppression_add_failed', err, rcpt: entry.address, queue_id: e.queueId }, 'could not add a complaint to the suppression list'),
  );
}

/** Where the entry came from, for `sluice suppress list`: the feedback report when there was one. */
function complaintSource(e: OutcomeEvent): string {
  const about = e.queueId || e.messageId || 'an unknown message';
  if (!e.feedback) return `suppression plugin: complaint about ${about}`;
  return `feedback report (${e.feedback.type}) from ${e.feedback.reporter ?? 'an unknown reporter'} about ${about}`.slice(0, 300);
}

export default createSuppressionPlugin();
