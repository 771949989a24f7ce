/**
 * Client limits on one listener (client-limits.ts decides): admission at connect, the
 * gate smtp-guards.ts consults at each command and error reply, stress mode, and the
 * DATA deadline. Every refusal is one log line with the client address and one count in
 * sluice_ingress_refused_total. Limits come from the current config at each use, so a
 * reload applies them to the next command.
 */
import type { Readable } from 'node:stream';
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Config, ListenConfig } from '../config/schema.js';
import type { Clock } from '../state/types.js';
import { ClientLimits, StressState, limitsFor, type LimitReason, type LimitSet, type RefusedReason } from './client-limits.js';
import type { NetworkList } from '../config/networks.js';
import type { Logger } from '../observe/logger.js';
import { limitReplies, type SmtpReply } from './replies.js';
import { applyIdleTimeout, endSession, setSessionGate, type GateSession } from './smtp-guards.js';

/** Notifications for metrics (never awaited). */
export interface LimitEvents {
  refused(listener: string, reason: RefusedReason): void;
  stress(listener: string, on: boolean): void;
}


export interface SessionLimitsDeps {
  readonly server: SMTPServer;
  readonly listener: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** The current config, listener and relay networks (they change on reload). */
  readonly current: () => { readonly config: Config; readonly listen: ListenConfig; readonly networks: NetworkList };
  readonly events?: LimitEvents | undefined;
}

export class SessionLimits {
  private readonly counts: ClientLimits;
  private readonly stress = new StressState();
  /**
   * The limit sets of the current config (trusted or not, stressed or not), each made once.
   * They were made anew at every command and reply, and a trusted client's set came from a
   * spread that gave V8 a new hidden class almost every time (21 of 19 999 calls shared
   * one), allocated in old space (docs/BENCHMARKS.md). A reload brings a new config object.
   */
  private sets: { readonly config: Config; readonly listen: ListenConfig; readonly byKind: LimitSet[] } | null = null;

  constructor(private readonly deps: SessionLimitsDeps) {
    this.counts = new ClientLimits(deps.clock);
    setSessionGate(deps.server, {
      command: (s, verb) => this.end(s, this.counts.command(s.id, verb, this.limits(s))),
      reply: (s, code) => this.end(s, this.counts.reply(s.id, code, this.limits(s))),
      idleTimeout: (s) => (this.stress.stressed && !this.trusted(s) ? this.limits(s).socket_timeout : null),
    });
    deps.events?.stress(deps.listener, false);
  }

  /** A new session: null when it may go on, else the reply that refuses it (it is then not counted). */
  admit(session: SMTPServerSession): SmtpReply | null {
    this.updateStress();
    const reason = this.counts.admit(session.id, session.remoteAddress, this.limits(session));
    if (reason) return this.end(session, reason);
    if (this.stress.stressed) applyIdleTimeout(this.deps.server, session.id);
    return null;
  }

  /** The session ended (smtp-server's onClose, for every session). */
  closed(session: SMTPServerSession): void {
    this.counts.release(session.id);
    this.updateStress();
  }

  /** A message was accepted on the session. */
  progress(session: SMTPServerSession): void {
    this.counts.progress(session.id);
  }

  /**
   * Arms the deadline for the whole DATA phase: at it, 421 4.4.2, the session is closed
   * and `stream` destroyed, so nothing is accepted. Returns the disarm function, which
   * says whether the deadline passed.
   */
  dataDeadline(session: SMTPServerSession, stream: Readable): () => boolean {
    const ms = this.limits(session).data_timeout;
    let expired = false;
    const timer =
      ms > 0
        ? setTimeout(() => {
            expired = true;
            const reply = this.end(session, 'data_timeout');
            if (reply) endSession(this.deps.server, session.id, reply);
            stream.destroy();
          }, ms)
        : null;
    return () => {
      if (timer) clearTimeout(timer);
      return expired;
    };
  }

  private limits(s: GateSession): LimitSet {
    const { config, listen } = this.deps.current();
    if (this.sets?.config !== config || this.sets.listen !== listen) this.sets = { config, listen, byKind: [] };
    const trusted = this.trusted(s);
    const kind = (trusted ? 2 : 0) + (this.stress.stressed ? 1 : 0);
    return (this.sets.byKind[kind] ??= limitsFor(config, listen, trusted, this.stress.stressed));
  }

  /** Relay networks and authenticated users (Postfix's smtpd_client_event_limit_exceptions). */
  private trusted(s: GateSession): boolean {
    return Boolean(s.user) || (s.remoteAddress !== undefined && this.deps.current().networks.contains(s.remoteAddress));
  }

  /** Logs and counts a refusal; the reply for it (null: no refusal). */
  private end(s: GateSession, reason: LimitReason | null): SmtpReply | null {
    if (reason === null) return null;
    const reply = limitReplies[reason];
    this.deps.log.warn({ event: 'client_limit', reason, session: s.id, client: s.remoteAddress ?? null, listener: this.deps.listener }, `${reply.code} ${reply.enhanced} ${reply.text}`);
    this.deps.events?.refused(this.deps.listener, reason);
    return reply;
  }

  private updateStress(): void {
    const { config, listen } = this.deps.current();
    const open = this.deps.server.connections.size;
    const change = this.stress.update(open, listen.max_connections, config.limits.stress.threshold);
    if (change === null) return;
    const on = change === 'entered';
    this.deps.log.warn({ event: on ? 'stress_entered' : 'stress_left', listener: this.deps.listener, sessions: open, max_connections: listen.max_connections }, on ? 'listener under stress: shorter timeouts and lower limits for untrusted clients' : 'listener no longer under stress');
    this.deps.events?.stress(this.deps.listener, on);
    // Sessions already open get the stress idle timeout too: they are the ones holding the slots.
    applyIdleTimeout(this.deps.server);
  }
}
