/**
 * Outbound webhooks (`[[events.webhooks]]`): events are posted in batches as a JSON
 * array, signed with HMAC-SHA256 (docs/OBSERVABILITY.md "Webhooks"), and retried with
 * exponential backoff. Each webhook owns a fixed-size ring of serialized events:
 * `publish` is a synchronous O(1) push, and when the ring is full the oldest event is
 * dropped and counted, so a dead endpoint costs its own backlog and nothing else.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { Logger } from './logger.js';
import { systemClock, type Clock } from '../state/types.js';
import { EVENT_NAMES, HOLD_EVENT_ALIASES, type EventName, type EventRecord, type EventSink } from './event-types.js';
import type { WebhookBacklogRow } from './metrics.js';

export interface WebhookOptions {
  readonly url: string;
  /** Event names to post, or ["*"] for all of them; the older names in HOLD_EVENT_ALIASES are accepted too. */
  readonly events: readonly string[];
  readonly secret: string;
  /** Events per POST (default 100). */
  readonly batch_size?: number;
  /** Events kept waiting at most; beyond it the oldest are dropped (default 10000). */
  readonly max_backlog?: number;
  /** The metric label; default the webhook's index in the config ("0", "1"…). */
  readonly name?: string;
}

export interface WebhooksTuning {
  /** Per POST (default 10 s). */
  readonly timeout_ms?: number;
  /** How long a partial batch waits for more events (default 1 s). */
  readonly linger_ms?: number;
  /** First retry delay; doubles per failure (default 1 s). */
  readonly backoff_base_ms?: number;
  /** Longest retry delay (default 5 min). */
  readonly backoff_max_ms?: number;
}

export interface WebhooksDeps {
  readonly log?: Logger;
  readonly metrics?: { webhookDropped(url: string, count: number): void };
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
}

/** The header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export class Webhooks implements EventSink {
  readonly #targets: WebhookTarget[];

  constructor(hooks: readonly WebhookOptions[], tuning: WebhooksTuning = {}, deps: WebhooksDeps = {}) {
    this.#targets = hooks.map((hook, i) => new WebhookTarget(hook, hook.name ?? String(i), tuning, deps));
  }

  publish(record: EventRecord): void {
    for (const target of this.#targets) target.publish(record);
  }

  /** Rows for sluice_webhook_backlog. */
  backlog(): WebhookBacklogRow[] {
    return this.#targets.map((t) => ({ url: t.name, backlog: t.backlog }));
  }

  /** Stops every timer; with `graceMs`, first tries for that long to post what is waiting. */
  async close(graceMs = 0): Promise<void> {
    await Promise.all(this.#targets.map((t) => t.close(graceMs)));
  }
}

interface Entry {
  readonly seq: number;
  readonly json: string;
}

interface Batch {
  readonly id: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly body: string;
}

class WebhookTarget {
  readonly name: string;
  readonly #url: string;
  readonly #secret: string;
  readonly #events: ReadonlySet<string> | null;
  /** New event name → the older name this webhook asked for it by (posted under that name). */
  readonly #oldNames: ReadonlyMap<string, string>;
  readonly #batchSize: number;
  readonly #ring: Ring;
  readonly #tuning: Required<WebhooksTuning>;
  readonly #deps: WebhooksDeps;
  readonly #fetch: typeof fetch;
  #seq = 0;
  #batch: Batch | null = null;
  #timer: NodeJS.Timeout | null = null;
  #inflight: AbortController | null = null;
  #failures = 0;
  #retryAfter: number | null = null;
  #closed = false;

  constructor(hook: WebhookOptions, name: string, tuning: WebhooksTuning, deps: WebhooksDeps) {
    this.name = name;
    if (!/^https?:\/\//i.test(hook.url)) throw invalid(name, `url must be http(s): ${hook.url}`);
    if (hook.secret.length === 0) throw invalid(name, 'secret is empty');
    const selected = new Set<string>();
    const oldNames = new Map<string, string>();
    for (const e of hook.events) {
      const aliased = Object.hasOwn(HOLD_EVENT_ALIASES, e) ? HOLD_EVENT_ALIASES[e] : undefined;
      if (aliased) {
        for (const n of aliased) {
          selected.add(n);
          if (!hook.events.includes(n)) oldNames.set(n, e);
        }
      } else if (e === '*' || EVENT_NAMES.includes(e as EventName)) {
        selected.add(e);
      } else {
        throw invalid(name, `unknown event "${e}" (known: ${EVENT_NAMES.join(', ')}, or "*"; older names still accepted: ${Object.keys(HOLD_EVENT_ALIASES).join(', ')})`);
      }
    }
    this.#url = hook.url;
    this.#secret = hook.secret;
    // "*" posts every record under its current name; an older name keeps its records under it.
    this.#events = selected.has('*') ? null : selected;
    this.#oldNames = selected.has('*') ? new Map() : oldNames;
    this.#batchSize = Math.max(1, hook.batch_size ?? 100);
    this.#ring = new Ring(Math.max(1, hook.max_backlog ?? 10_000));
    this.#tuning = {
      timeout_ms: tuning.timeout_ms ?? 10_000,
      linger_ms: tuning.linger_ms ?? 1_000,
      backoff_base_ms: tuning.backoff_base_ms ?? 1_000,
      backoff_max_ms: tuning.backoff_max_ms ?? 300_000,
    };
    this.#deps = deps;
    this.#fetch = deps.fetch ?? fetch;
  }

  get backlog(): number {
    return this.#ring.length;
  }

  publish(record: EventRecord): void {
    if (this.#closed || (this.#events !== null && !this.#events.has(record.event))) return;
    const oldName = this.#oldNames.get(record.event);
    if (this.#ring.push({ seq: ++this.#seq, json: JSON.stringify(oldName === undefined ? record : { ...record, event: oldName }) })) {
      this.#deps.metrics?.webhookDropped(this.name, 1);
    }
    this.#schedule();
  }

  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    const deadline = Date.now() + graceMs;
    while (graceMs > 0 && this.#ring.length > 0 && this.#inflight === null && Date.now() < deadline) {
      if (!(await this.#post())) break;
    }
    this.#inflight?.abort();
  }

  /** Arms the next POST unless one is running or already armed (backoff included). */
  #schedule(): void {
    if (this.#closed || this.#inflight !== null || this.#timer !== null || this.#ring.length === 0) return;
    const delay = this.#ring.length >= this.#batchSize ? 0 : this.#tuning.linger_ms;
    this.#arm(delay);
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#post().then((ok) => {
        if (this.#closed) return;
        if (ok) this.#schedule();
        else this.#arm(this.#backoff());
      });
    }, delay);
    this.#timer.unref();
  }

  /** One POST of the batch at the head of the ring; true unless it should be retried. */
  async #post(): Promise<boolean> {
    const batch = this.#currentBatch();
    if (batch === null) return true;
    const controller = new AbortController();
    this.#inflight = controller;
    const timeout = setTimeout(() => controller.abort(), this.#tuning.timeout_ms);
    timeout.unref();
    const t = Math.floor((this.#deps.clock ?? systemClock).now() / 1000);
    try {
      const res = await this.#fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sluice-webhooks/1',
          'x-sluice-signature': signWebhook(this.#secret, t, batch.body),
          'x-sluice-batch-id': batch.id,
        },
        body: batch.body,
        redirect: 'manual',
        signal: controller.signal,
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return this.#done(batch);
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // The endpoint refuses this batch for good: retrying would stall the rest behind it.
        const dropped = this.#ring.dropThrough(batch.lastSeq);
        this.#deps.log?.warn({ webhook: this.name, status: res.status, events: dropped }, 'webhook rejected a batch; dropped');
        this.#deps.metrics?.webhookDropped(this.name, dropped);
        return this.#done(batch);
      }
      this.#fail(`HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after')));
      return false;
    } catch (err) {
      this.#fail(err instanceof Error ? err.message : String(err), null);
      return false;
    } finally {
      clearTimeout(timeout);
      this.#inflight = null;
    }
  }

  /** The same batch (same id and body) is resent on retry unless overflow ate its head. */
  #currentBatch(): Batch | null {
    const head = this.#ring.peek(this.#batchSize);
    const first = head[0];
    const last = head[head.length - 1];
    if (first === undefined || last === undefined) return null;
    if (this.#batch !== null && this.#batch.firstSeq === first.seq) return this.#batch;
    this.#batch = {
      id: randomUUID(),
      firstSeq: first.seq,
      lastSeq: last.seq,
      body: `[${head.map((e) => e.json).join(',')}]`,
    };
    return this.#batch;
  }

  #done(batch: Batch): true {
    this.#ring.dropThrough(batch.lastSeq);
    this.#batch = null;
    this.#failures = 0;
    return true;
  }

  #fail(why: string, retryAfter: number | null): void {
    this.#failures++;
    this.#retryAfter = retryAfter;
    this.#deps.log?.warn({ webhook: this.name, why, failures: this.#failures, backlog: this.#ring.length }, 'webhook POST failed');
  }

  #backoff(): number {
    const cap = this.#tuning.backoff_max_ms;
    const exp = Math.min(cap, this.#tuning.backoff_base_ms * 2 ** Math.min(30, this.#failures - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    return Math.min(cap, Math.max(jittered, this.#retryAfter ?? 0));
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** A fixed-capacity FIFO; pushing into a full ring drops the oldest entry. */
class Ring {
  readonly #slots: Array<Entry | undefined>;
  #head = 0;
  #length = 0;

  constructor(capacity: number) {
    this.#slots = new Array<Entry | undefined>(capacity);
  }

  get length(): number {
    return this.#length;
  }

  /** True when the oldest entry had to go. */
  push(entry: Entry): boolean {
    const cap = this.#slots.length;
    const full = this.#length === cap;
    if (full) this.#head = (this.#head + 1) % cap;
    else this.#length++;
    this.#slots[(this.#head + this.#length - 1) % cap] = entry;
    return full;
  }

  peek(n: number): Entry[] {
    const out: Entry[] = [];
    for (let i = 0; i < Math.min(n, this.#length); i++) {
      const e = this.#slots[(this.#head + i) % this.#slots.length];
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /** Removes entries from the head up to and including `seq`; answers how many went. */
  dropThrough(seq: number): number {
    let removed = 0;
    while (this.#length > 0) {
      const e = this.#slots[this.#head];
      if (e === undefined || e.seq > seq) break;
      this.#slots[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#slots.length;
      this.#length--;
      removed++;
    }
    return removed;
  }
}

function retryAfterMs(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

function invalid(name: string, what: string): SluiceError {
  return new SluiceError('CONFIG_INVALID', `events.webhooks[${name}]: ${what}`);
}
