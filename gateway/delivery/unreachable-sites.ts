/**
 * Sites that refused every connection a moment ago (Postfix's "dead destination"): mail
 * routed to one meanwhile is deferred at once with "delivery temporarily suspended" and
 * the reply the last connection got, instead of each new message opening its own
 * connection to learn the same thing. At 2 000 messages a second into a dead MX that was
 * a socket, a TLS-less SMTP client and their buffers per message.
 *
 * A site is suspended for MIN_MS after its first failure, twice as long after each
 * failure that follows (at most MAX_MS, and never longer than the queue's first retry
 * interval: mail is not kept from a retry it would otherwise get), and forgotten at the
 * first connection that opens. Only a failure no server answered counts (refused, timed
 * out, unroutable: 4.4.x); a greeting, even a 4xx one, is the shaping rules' business.
 * The memory is per pool and site (its MX hosts), as Postfix keeps it per next hop; per
 * pool because another pool's sources may sit elsewhere on the network. It lives in the
 * session runner, so a config reload starts it afresh; a flush or a retry by an operator
 * clears it (as `postqueue -f` makes Postfix forget its dead destinations).
 */
import { formatResponse, localResponse, type Response } from './response.js';

const MIN_MS = 1_000;
const MAX_MS = 60_000;

interface Suspension {
  until: number;
  backoffMs: number;
  readonly reply: Response;
}

export class UnreachableSites {
  readonly #sites = new Map<string, Suspension>();
  #prunedAt = 0;

  /** @param maxMs the longest suspension (the queue's first retry interval, at most MAX_MS). */
  constructor(private readonly maxMs: number) {}

  /** Every connection to `site` failed with `reply`: returns for how many ms it is suspended. */
  failed(site: string, now: number, reply: Response): number {
    this.prune(now);
    const had = this.#sites.get(site);
    const cap = Math.max(1, Math.min(MAX_MS, this.maxMs));
    const backoffMs = Math.min(cap, had ? had.backoffMs * 2 : Math.min(MIN_MS, cap));
    this.#sites.set(site, { until: now + backoffMs, backoffMs, reply: localResponse(451, '4.4.1', `delivery temporarily suspended: ${formatResponse(reply).slice(0, 160)}`) });
    return backoffMs;
  }

  /** An operator asked for mail to be tried now: every site is tried again. */
  clear(): void {
    this.#sites.clear();
  }

  /** A connection to `site` opened: it is no longer suspended. */
  reached(site: string): void {
    this.#sites.delete(site);
  }

  /** The reply mail to `site` is deferred with now, or null when it is not suspended. */
  suspended(site: string, now: number): Response | null {
    const s = this.#sites.get(site);
    return s !== undefined && s.until > now ? s.reply : null;
  }

  /** Drops suspensions long over (a site that failed once, long ago, starts again at MIN_MS), once a MAX_MS at most. */
  private prune(now: number): void {
    if (now - this.#prunedAt < MAX_MS) return;
    this.#prunedAt = now;
    for (const [site, s] of this.#sites) if (now - s.until > MAX_MS) this.#sites.delete(site);
  }
}
