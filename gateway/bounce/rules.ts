/**
 * Bounce rules as data (config/bounce-rules.toml, and the operators' own files in front of
 * it through `[bounces] rules`): which enhanced status, reply code, diagnostic text and
 * reporting host mean which reason, and which reasons are hard. Loaded once through a
 * strict schema; a mistake is reported as `file:line key: what is wrong`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from '../config/load.js';
import { keyPath, type ConfigIssue } from '../config/issues.js';
import { locateKey } from '../config/locate.js';
import { closest } from '../config/suggest.js';
import { BOUNCE_REASONS, type BounceReason } from './reasons.js';

const CODE = /^[245]\.(\d{1,3}|\*)\.(\d{1,3}|\*)$/;
const list = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

const ruleSchema = z
  .strictObject({
    reason: z.enum(BOUNCE_REASONS),
    /** Enhanced status codes (RFC 3463); `*` stands for any number: "5.7.*". */
    status: list(z.string().regex(CODE, 'an enhanced status code such as "5.1.1" or "5.7.*"')).optional(),
    reply_code: list(z.number().int().min(200).max(599)).optional(),
    /** Regular expressions over the diagnostic text, case-insensitive; any one matching is enough. */
    text: list(z.string().min(1)).optional(),
    /** A regular expression over the reporting or remote MTA's host name: rules for one provider. */
    host: z.string().min(1).optional(),
    /** The SMTP command the failure answered. */
    command: list(z.enum(['CONN', 'EHLO', 'MAIL', 'RCPT', 'DATA'])).optional(),
    /** The DSN Action field (RFC 3464 §2.3.3). */
    action: z.enum(['failed', 'delayed', 'delivered', 'relayed', 'expanded']).optional(),
    /** Regular expressions over the bounce's own header section (one field a line): the software or service that wrote it. */
    headers: list(z.string().min(1)).optional(),
    /** A regular expression over the failed recipient's address. */
    recipient: z.string().min(1).optional(),
  })
  .refine((r) => r.status || r.reply_code || r.text || r.action || r.command || r.headers || r.recipient, { message: 'a rule needs at least one of status, reply_code, text, action, command, headers, recipient' });

const reasonSchema = z.strictObject({
  /** The address itself is bad: suppress it (only for a permanent failure). */
  hard: z.boolean().default(false),
  /** The status reported when the bounce carries no specific code. */
  status: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/, 'an enhanced status code such as "5.1.1"'),
});

const fileSchema = z.strictObject({
  reasons: z.partialRecord(z.enum(BOUNCE_REASONS), reasonSchema).optional(),
  rules: z.array(ruleSchema).default([]),
  /** Tried only when no rule matched the diagnostic or the bounce's explanation: what a failure with no known cause is. */
  fallback: z.array(ruleSchema).default([]),
});

export interface BounceRule {
  readonly reason: BounceReason;
  readonly status: readonly string[] | null;
  readonly replyCode: readonly number[] | null;
  readonly text: readonly RegExp[] | null;
  readonly host: RegExp | null;
  readonly action: string | null;
  readonly command: readonly string[] | null;
  readonly headers: readonly RegExp[] | null;
  readonly recipient: RegExp | null;
  /** Where it was written, for explaining a classification: "file:line". */
  readonly at: string;
}

export interface ReasonInfo {
  readonly hard: boolean;
  readonly status: string;
}

export interface BounceRules {
  readonly rules: readonly BounceRule[];
  /** [[fallback]]: tried when every rule, on the diagnostic and on the explanation, found nothing. */
  readonly fallback: readonly BounceRule[];
  readonly reasons: Readonly<Record<BounceReason, ReasonInfo>>;
}

/** The rules Sluice ships: config/bounce-rules.toml beside dist/ (or the sources, under test). */
export function shippedRulesPath(): string {
  for (const rel of ['../../../config/bounce-rules.toml', '../../config/bounce-rules.toml']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  return fileURLToPath(new URL('../../../config/bounce-rules.toml', import.meta.url));
}

/**
 * Reads rule files, the first file's rules tried first; the shipped file goes last. A
 * reason's settings come from the first file that sets them. Every reason must have
 * settings in one of the files.
 */
export function loadBounceRules(files: readonly string[]): BounceRules {
  const issues: ConfigIssue[] = [];
  const rules: BounceRule[] = [];
  const fallback: BounceRule[] = [];
  const reasons: Partial<Record<BounceReason, ReasonInfo>> = {};
  for (const file of files) {
    const parsed = readRules(file, issues);
    if (!parsed) continue;
    rules.push(...parsed.rules);
    fallback.push(...parsed.fallback);
    for (const [name, info] of Object.entries(parsed.reasons) as [BounceReason, ReasonInfo][]) reasons[name] ??= info;
  }
  const missing = BOUNCE_REASONS.filter((r) => !reasons[r]);
  if (missing.length > 0 && issues.length === 0) {
    issues.push({ file: files.at(-1) ?? '(no file)', line: null, key: 'reasons', message: `no settings for ${missing.join(', ')}: add [reasons.${missing[0]}] with hard and status` });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { rules, fallback, reasons: reasons as Record<BounceReason, ReasonInfo> };
}

function readRules(file: string, issues: ConfigIssue[]): { rules: BounceRule[]; fallback: BounceRule[]; reasons: Partial<Record<BounceReason, ReasonInfo>> } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({ file, line: null, key: '', message: `cannot read the bounce rules: ${(err as Error).message}` });
    return null;
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    issues.push({ file, line: err instanceof TomlError ? err.line : null, key: '', message: `not valid TOML: ${(err as Error).message.split('\n')[0] ?? ''}` });
    return null;
  }
  const result = fileSchema.safeParse(data);
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(describe(file, text, issue));
    return null;
  }
  const before = issues.length;
  const rules = result.data.rules.map((r, i) => compileRule(r, ['rules', i], file, text, issues));
  const fallback = result.data.fallback.map((r, i) => compileRule(r, ['fallback', i], file, text, issues));
  return issues.length > before ? null : { rules, fallback, reasons: result.data.reasons ?? {} };
}

function compileRule(r: z.output<typeof ruleSchema>, path: readonly [string, number], file: string, text: string, issues: ConfigIssue[]): BounceRule {
  const at = (...key: (string | number)[]) => ({ file, text, path: [...path, ...key] });
  return {
    reason: r.reason,
    status: r.status ?? null,
    replyCode: r.reply_code ?? null,
    text: r.text ? r.text.map((t, j) => compile(t, at('text', j), issues)) : null,
    host: r.host ? compile(r.host, at('host'), issues) : null,
    action: r.action ?? null,
    command: r.command ?? null,
    headers: r.headers ? r.headers.map((t, j) => compile(t, at('headers', j), issues, 'im')) : null,
    recipient: r.recipient ? compile(r.recipient, at('recipient'), issues) : null,
    at: `${file}:${locateKey(text, [...path]) ?? '?'}`,
  };

}

function compile(source: string, where: { file: string; text: string; path: (string | number)[] }, issues: ConfigIssue[], flags = 'i'): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    issues.push({ file: where.file, line: locateKey(where.text, where.path), key: keyPath(where.path), message: `not a valid regular expression: ${(err as Error).message}` });
    return /(?!)/;
  }
}

function describe(file: string, text: string, issue: z.core.$ZodIssue): ConfigIssue {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const known = path.length === 0 ? ['reasons', 'rules', 'fallback'] : path[0] === 'rules' || path[0] === 'fallback' ? ['reason', 'status', 'reply_code', 'text', 'host', 'action', 'command', 'headers', 'recipient'] : ['hard', 'status'];
    const hint = closest(key, known);
    message = `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : `; known keys: ${known.join(', ')}`}`;
    path.push(key);
  } else if (issue.code === 'invalid_value' && path.at(-1) === 'reason') {
    const got = valueAt(text, path);
    const hint = got ? closest(got, BOUNCE_REASONS) : null;
    message = `not a reason${got ? ` ("${got}")` : ''}${hint ? ` (did you mean "${hint}"?)` : ''}; one of ${BOUNCE_REASONS.join(', ')}`;
  } else if (issue.code === 'invalid_key' && path[0] === 'reasons') {
    message = `not a reason; one of ${BOUNCE_REASONS.join(', ')}`;
  }
  return { file, line: locateKey(text, path), key: keyPath(path), message };
}

function valueAt(text: string, path: readonly (string | number)[]): string | null {
  const line = locateKey(text, path);
  if (line === null) return null;
  return /=\s*"([^"]*)"/.exec(text.split(/\r?\n/)[line - 1] ?? '')?.[1] ?? null;
}
