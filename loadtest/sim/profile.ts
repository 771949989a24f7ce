import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { LoadtestError } from '../errors.js';

/**
 * A provider profile: how a simulated provider answers (loadtest/profiles/<name>.toml).
 * Every default lives here; unknown keys are errors (STYLE.md: strict schema, then freeze).
 */

/** One SMTP reply. `text` lines carry the enhanced code themselves ("4.7.28 ..."); a list is
 * sent as a multi-line reply. "{ip}" and "{rcpt}" are replaced by the peer IP and recipient. */
const replySchema = z
  .object({
    code: z.number().int().min(400).max(599),
    text: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  })
  .strict();
export type SimReply = z.infer<typeof replySchema>;

const shareSchema = z.number().min(0).max(1);
const stageSchema = z.enum(['mail', 'rcpt', 'data']);
export type SimStage = z.infer<typeof stageSchema>;

const rateSchema = z.string().regex(/^\d+\/(s|m|h|d)$/, 'a rate like "50/s", "600/m" or "10000/h" (as the gateway reads it)');

const sluiceSchema = z
  .object({
    /** false: the provider is left out of [providers] in the generated config, so the
     * gateway throttles its MX hosts as a site under [providers.default]. */
    declare: z.boolean().default(true),
    max_connections: z.number().int().positive().default(10),
    max_message_rate: rateSchema.default('100/s'),
    max_messages_per_connection: z.number().int().positive().optional(),
  })
  .strict();

const connectionsSchema = z
  .object({
    max_per_ip: z.number().int().nonnegative().default(0), // 0: no limit
    reply: replySchema.default({ code: 421, text: '4.7.0 Too many connections from {ip}, try again later' }),
  })
  .strict();

const rateLimitSchema = z
  .object({
    max_per_ip: z.number().nonnegative().default(0), // messages per second per peer IP; 0: none
    at: stageSchema.default('data'),
    reply: replySchema.default({ code: 421, text: '4.7.0 Too much mail from {ip}, try again later' }),
  })
  .strict();

const perConnectionSchema = z
  .object({
    max_messages: z.number().int().nonnegative().default(0), // 0: no limit
    reply: replySchema.default({ code: 421, text: '4.7.0 Too many messages in this session, closing connection' }),
  })
  .strict();

const recipientRuleSchema = (prefix: string, reply: SimReply) =>
  z
    .object({
      share: shareSchema.default(0),
      prefix: z.string().default(prefix),
      reply: replySchema.default(reply),
      /** a 4xx answer stops after this many refusals for the same recipient */
      clears_after: z.number().int().positive().default(2),
    })
    .strict();

const recipientsSchema = z
  .object({
    unknown: recipientRuleSchema('unknown', { code: 550, text: '5.1.1 <{rcpt}>: Recipient address rejected: User unknown' }).prefault({}),
    mailbox_full: recipientRuleSchema('full', { code: 452, text: '4.2.2 <{rcpt}>: Mailbox full' }).prefault({}),
  })
  .strict();

const greylistSchema = z
  .object({
    enabled: z.boolean().default(false),
    at: z.enum(['rcpt', 'data']).default('rcpt'),
    reply: replySchema.default({ code: 451, text: '4.7.1 <{rcpt}>: Greylisted, please try again later' }),
  })
  .strict();

const delaysSchema = z
  .object({
    banner_ms: z.number().nonnegative().default(0),
    reply_ms: z.number().nonnegative().default(0), // MAIL and RCPT
    data_ms: z.number().nonnegative().default(0), // after the final dot, before the reply
  })
  .strict();

const randomDeferSchema = z
  .object({
    share: shareSchema.default(0),
    at: stageSchema.default('data'),
    reply: replySchema.default({ code: 451, text: '4.3.0 Temporary failure, please try again later' }),
  })
  .strict();

export const profileSchema = z
  .object({
    description: z.string().default(''),
    hostname: z.string().min(1).default('mx.loadtest.test'),
    banner: z.string().default('ESMTP'),
    starttls: z.boolean().default(false),
    sluice: sluiceSchema.prefault({}),
    connections: connectionsSchema.prefault({}),
    rate: rateLimitSchema.prefault({}),
    per_connection: perConnectionSchema.prefault({}),
    recipients: recipientsSchema.prefault({}),
    greylist: greylistSchema.prefault({}),
    delays: delaysSchema.prefault({}),
    random_defer: randomDeferSchema.prefault({}),
  })
  .strict();

export type ProfileSpec = z.infer<typeof profileSchema>;
export interface Profile extends ProfileSpec {
  readonly name: string;
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** Parses and validates one profile's TOML text; `where` names the file in errors. */
export function parseProfile(name: string, text: string, where: string): Profile {
  if (!NAME.test(name)) {
    throw new LoadtestError('PROFILE_INVALID', `${where}: profile name "${name}" must match ${NAME.source}`);
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const at = err instanceof TomlError ? `:${err.line}` : '';
    throw new LoadtestError('PROFILE_INVALID', `${where}${at}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const result = profileSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    const key = first?.path.join('.') || '(top)';
    throw new LoadtestError('PROFILE_INVALID', `${where} ${key}: ${first?.message ?? 'invalid'}`, { cause: result.error });
  }
  return deepFreeze({ ...result.data, name });
}

/** Loads `<dir>/<name>.toml` for each name, in order. */
export async function loadProfiles(dir: string, names: readonly string[]): Promise<Profile[]> {
  const profiles: Profile[] = [];
  for (const name of names) {
    const file = path.join(dir, `${name}.toml`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const have = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.toml')).map((f) => f.slice(0, -5));
      throw new LoadtestError('PROFILE_INVALID', `no profile "${name}" in ${dir} (there: ${have.sort().join(', ') || 'none'})`, { cause: err });
    }
    profiles.push(parseProfile(name, text, file));
  }
  return profiles;
}

/** "50/s" → 50, "600/m" → 10 (messages per second). */
export function ratePerSecond(rate: string): number {
  const m = /^(\d+)\/(s|m|h|d)$/.exec(rate);
  if (!m) throw new LoadtestError('PROFILE_INVALID', `bad rate "${rate}"`);
  const per = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) / per;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
