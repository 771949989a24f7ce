/**
 * The public plugin API, published as `sluice/plugin` (DESIGN.md "Plugin API").
 * Built-in plugins in plugins/ import only from this file.
 */
import type { Registry } from 'prom-client';
import type { StateBackend } from '../state/types.js';
import type { Logger } from '../observe/logger.js';

/** What a plugin logs through: the node's one Logger type, under the name the plugin API has always used. */
export type PluginLogger = Logger;

/** A path from the plugin's config table, resolved as the gateway resolves its own (ctx.baseDir). */
export { configPath } from '../config/paths.js';

/** The error type plugins throw for config and key problems (a code, a message that says the fix). */
export { SluiceError } from '../errors.js';

/** Helpers plugins may use: IPv4/IPv6 networks as the relay policy matches them. */
export { NetworkList, parseNetwork } from '../config/networks.js';


export type ListenerMode = 'relay' | 'submission';

export interface ConnectionInfo {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly helo: string | null;
  readonly authUser: string | null;
  readonly tls: boolean;
  readonly mode: ListenerMode;
  readonly listener: string;
}

export interface TransactionInfo {
  readonly mailFrom: string;
  readonly rcpts: readonly string[];
  /** Set by plugins (classify) in the data hook; the pool follows from it. */
  class: string;
  pool: string | null;
  priority: number | null;
  campaign: string | null;
}

/** The header block of a message; edits apply to what is spooled and delivered. */
export interface Headers {
  /** First value, unfolded, case-insensitive name; null when absent. */
  get(name: string): string | null;
  getAll(name: string): string[];
  /** Replaces every occurrence with one header. */
  set(name: string, value: string): void;
  /** Adds a header at the top (as trace headers are added). */
  add(name: string, value: string): void;
  remove(name: string): void;
  /** The header block bytes as they will be spooled: CRLF line ends, ending with CRLF. */
  raw(): Buffer;
}

export interface MessageView {
  readonly headers: Headers;
  /** Body bytes (after the blank line), normalised to CRLF. */
  readonly body: Buffer;
  /** The whole message as received (header block and body), in bytes. */
  readonly size: number;
}

export type Verdict =
  | { readonly kind: 'next' }
  | { readonly kind: 'accept' }
  | { readonly kind: 'reject'; readonly code: number; readonly enhanced: string; readonly text: string }
  | { readonly kind: 'defer'; readonly code: number; readonly enhanced: string; readonly text: string }
  | { readonly kind: 'drop'; readonly reason: string };

export interface VerdictHelpers {
  next(): Verdict;
  accept(): Verdict;
  reject(code: number, enhanced: string, text: string): Verdict;
  defer(code: number, enhanced: string, text: string): Verdict;
  drop(reason: string): Verdict;
}

export interface BaseCtx<C> extends VerdictHelpers {
  readonly connection: ConnectionInfo;
  readonly log: PluginLogger;
  readonly config: C;
}

export type ConnectCtx<C> = BaseCtx<C>;
export type HeloCtx<C> = BaseCtx<C> & { readonly helo: string };
export type MailCtx<C> = BaseCtx<C> & { readonly mailFrom: string };
export type RcptCtx<C> = BaseCtx<C> & { readonly transaction: TransactionInfo; readonly rcpt: string };
export type DataCtx<C> = BaseCtx<C> & { readonly transaction: TransactionInfo; readonly message: MessageView };
export type QueuedCtx<C> = BaseCtx<C> & {
  readonly transaction: TransactionInfo;
  readonly message: MessageView;
  readonly queueId: string;
};

type Hook<X> = (ctx: X) => Verdict | Promise<Verdict>;

export interface OutcomeEvent {
  readonly queueId: string;
  readonly messageId: string | null;
  readonly recipient: string;
  readonly mailFrom: string;
  readonly class: string;
  readonly pool: string;
  readonly source: string | null;
  readonly provider: string | null;
  readonly mx: string | null;
  readonly reply: string | null;
  readonly enhanced: string | null;
  readonly attempt: number;
  readonly at: number;
  /** On `bounced` for a remote reply: the reason the bounce rules give it (config/bounce-rules.toml) and whether the address is bad. */
  readonly bounce?: { readonly reason: string; readonly hard: boolean };
  /** On `complained` only: the feedback report (ARF, RFC 5965) the complaint came in. */
  readonly feedback?: {
    /** Feedback-Type, lower-cased: "abuse", "fraud"… */
    readonly type: string;
    /** The report's From address (e.g. feedback@arf.mail.yahoo.com). */
    readonly reporter: string | null;
    /** The report's User-Agent field (e.g. "Yahoo!-Mail-Feedback/2.0"). */
    readonly userAgent: string | null;
    readonly arrivalDate: string | null;
    /** How the report was tied to the message: our X-Sluice-FBL header, our Received id, or Source-IP. */
    readonly matchedBy: 'header' | 'received' | 'source-ip';
  };
}

/** What became of one recipient: the one outcome model (queue, bounce, observe and plugins use it). */
export type OutcomeKind = 'delivered' | 'deferred' | 'bounced' | 'expired' | 'suppressed' | 'complained' | 'cancelled';

/** Every notification on the outcome bus: `queued`, then the recipient's outcomes. */
export type OutcomeEventKind = 'queued' | OutcomeKind;

export const OUTCOME_EVENT_KINDS: readonly OutcomeEventKind[] = ['queued', 'delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'cancelled'];

export interface OutcomeEvents {
  queued: (e: OutcomeEvent) => void;
  delivered: (e: OutcomeEvent) => void;
  deferred: (e: OutcomeEvent) => void;
  bounced: (e: OutcomeEvent) => void;
  expired: (e: OutcomeEvent) => void;
  complained: (e: OutcomeEvent) => void;
  suppressed: (e: OutcomeEvent) => void;
  /** An operator cancelled the recipient from the queue (issue 17): no DSN. */
  cancelled: (e: OutcomeEvent) => void;
}

export interface PluginHooks<C> {
  connect?: Hook<ConnectCtx<C>>;
  helo?: Hook<HeloCtx<C>>;
  mail?: Hook<MailCtx<C>>;
  rcpt?: Hook<RcptCtx<C>>;
  data?: Hook<DataCtx<C>>;
  queued?: Hook<QueuedCtx<C>>;
  /** Outcome observers: never awaited, their return value is ignored. */
  delivered?: (e: OutcomeEvent, ctx: ObserverCtx<C>) => void;
  deferred?: (e: OutcomeEvent, ctx: ObserverCtx<C>) => void;
  bounced?: (e: OutcomeEvent, ctx: ObserverCtx<C>) => void;
  complained?: (e: OutcomeEvent, ctx: ObserverCtx<C>) => void;
  suppressed?: (e: OutcomeEvent, ctx: ObserverCtx<C>) => void;
}

export interface ObserverCtx<C> {
  readonly log: PluginLogger;
  readonly config: C;
}

export interface SetupCtx {
  /** The plugin's own config table (`[<name>]`), unvalidated unless `configSchema` is given. */
  readonly config: unknown;
  /** The config file the table came from, for error messages. */
  readonly configFile: string;
  /** The directory relative paths in the config are resolved against. */
  readonly baseDir: string;
  readonly log: PluginLogger;
  readonly state: StateBackend;
  readonly metrics: Registry;
}

export interface CheckCtx<C> {
  /** The table as `configSchema` parsed it. */
  readonly config: C;
  readonly configFile: string;
  readonly baseDir: string;
}

/** What a plugin's `configSchema` must offer (a zod schema fits). */
export interface ConfigSchema<C> {
  safeParse(input: unknown):
    | { success: true; data: C }
    | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

export interface Plugin<C = unknown> {
  readonly name: string;
  /** Validates `[<name>]` before setup; its errors are reported by check-config. */
  readonly configSchema?: ConfigSchema<C>;
  /** Runs once at start; the returned value (if any) becomes `ctx.config` for hooks. */
  setup?(ctx: SetupCtx): C | void | Promise<C | void>;
  /**
   * What would make setup fail, checked without starting anything (files the table names:
   * readable, parseable). check-config runs it so that its OK means the node will start.
   * `key` is relative to the plugin's table (e.g. `keys[0].key`).
   */
  check?(ctx: CheckCtx<C>): ReadonlyArray<{ key: string; message: string }> | Promise<ReadonlyArray<{ key: string; message: string }>>;
  readonly hooks: PluginHooks<C>;
}

/** Only adds types; a plain object with the same shape works as well. */
export function definePlugin<C = unknown>(plugin: Plugin<C>): Plugin<C> {
  return plugin;
}
