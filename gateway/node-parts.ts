/**
 * Part of the composition root (node.ts): the builders of the parts a reload replaces
 * (routing, shaping and the delivery agent) and of the sink ingress hands finished
 * transactions to. Each takes the narrow ports it wires together, never the node.
 */
import type { Config } from './config/schema.js';
import { SluiceError } from './errors.js';
import { createSessionRunner } from './delivery/agent.js';
import { MxResolver } from './delivery/mx-resolver.js';
import type { AcceptSink } from './ingress/transaction.js';
import type { Logger } from './observe/logger.js';
import type { Observer } from './observe/observer.js';
import { pluginOrder } from './plugin-host/host.js';
import type { SchedulerDeps } from './queue/scheduler.js';
import { Router } from './routing/router.js';
import { SourcePicker } from './routing/source-picker.js';
import { HealthMonitor } from './shaping/health-monitor.js';
import type { HoldCache } from './shaping/hold-cache.js';
import type { Pauses } from './shaping/pauses.js';
import { ProviderTable, type ProviderLimits } from './shaping/providers.js';
import type { SendWindows } from './shaping/send-window.js';
import { WarmupGate } from './shaping/warmup-gate.js';
import type { DiskGuard } from './spool/disk-guard.js';
import type { Envelope, Spool } from './spool/types.js';
import type { ManagedState } from './state/create.js';
import type { Clock } from './state/types.js';
import type { ConnectionCounter } from './telemetry.js';

export interface RoutingPorts {
  readonly state: ManagedState;
  readonly spool: Spool;
  readonly holds: HoldCache;
  readonly pauses: Pauses;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer: Observer;
  readonly connections: ConnectionCounter;
  /** This node's sends per rate key; outlives reloads, since sends in flight still count. */
  readonly sendWindows: SendWindows;
  readonly nodeId: string;
  readonly hostname: string;
}

/** Routing, shaping and delivery parts built from one config: what a reload replaces. */
export interface RoutingParts {
  readonly resolver: MxResolver;
  readonly warmup: WarmupGate;
  readonly picker: SourcePicker;
  readonly health: HealthMonitor;
  /** Header names [[routes]] read (lower-cased): ingress keeps their values. */
  readonly routeHeaderNames: readonly string[];
  /** What the scheduler takes from this config (Scheduler.reconfigure). */
  readonly scheduler: Pick<SchedulerDeps, 'config' | 'resolver' | 'providers' | 'router' | 'runSession' | 'maxSessions'>;
}

export function buildRouting(config: Config, p: RoutingPorts): RoutingParts {
  const { clock, log, state } = p;
  const resolver = new MxResolver({ servers: config.dns.servers, staticRoutes: config.dns.static, port: config.delivery.port, timeoutMs: config.dns.timeout, maxCacheTtlMs: config.dns.max_cache_ttl, clock });
  const warmup = new WarmupGate(config, state, clock);
  warmup.onExhausted((source, day, cap) => {
    log.warn({ event: 'warmup_exhausted', source, day, cap }, `warm-up cap of ${source} reached for ${day}`);
    p.observer.warmupExhausted(source, day, cap);
  });
  const picker = new SourcePicker(config, state, p.holds, warmup, p.nodeId, p.hostname, clock);
  const health = new HealthMonitor({ config, state, holds: p.holds, pauses: p.pauses, clock, log });
  const suppression = (config.suppression ?? {}) as { check_domain?: boolean };
  const checkDomain = suppression.check_domain !== false;
  const runSession = createSessionRunner({
    config,
    spool: p.spool,
    state,
    picker,
    warmup,
    pauses: p.pauses,
    clock,
    log,
    onSessionChange: (source, provider, delta) => p.connections.change(source, provider, delta),
    degraded: () => state.degraded(),
    sendWindows: p.sendWindows,
    // Re-checked just before sending: an address suppressed after it was queued is not mailed.
    ...(pluginOrder(config).includes('suppression')
      ? {
          recipientFilter: async (rcpt: string) => {
            const hit = await state.suppression.check(rcpt);
            return hit === null || (!checkDomain && hit.address.startsWith('@'));
          },
        }
      : {}),
  });
  const router = new Router(config);
  return {
    resolver,
    warmup,
    picker,
    health,
    routeHeaderNames: router.headerNames(),
    scheduler: {
      config,
      resolver,
      providers: new ProviderTable(config),
      router,
      runSession,
      maxSessions: (rq: { pool: string; provider: ProviderLimits }) => picker.maxSessions(rq.pool, rq.provider),
    },
  };
}

export interface SinkPorts {
  readonly spool: Pick<Spool, 'commit'>;
  readonly disk: DiskGuard;
  /** Queues a committed message and sends its `queued` notifications. */
  readonly enqueue: (envelope: Envelope) => void;
  /** Recipients a plugin dropped at accept time. */
  readonly dropped: AcceptSink['dropped'];
  /** Header names the routes in force read. */
  readonly routeHeaders: () => readonly string[];
  /** [feedback]: stamps the X-Sluice-FBL reference on outgoing mail. */
  readonly feedback: { stamp: NonNullable<AcceptSink['stamp']> } | null;
  /** `[queue] max_schedule` in force. */
  readonly maxSchedule?: () => number;
}

/** Where every listener hands a finished transaction: the spool (within the disk reserve), then the queue. */
export function acceptSink(p: SinkPorts): AcceptSink {
  const { feedback, disk } = p;
  return {
    // Read per message: a reload that adds a header route must see that header on the next message.
    get routeHeaders() {
      return p.routeHeaders();
    },
    // A client's own X-Sluice-FBL never leaves: only ours can be read back from a report.
    privateHeaders: feedback ? ['x-sluice-class', 'x-sluice-fbl'] : ['x-sluice-class'],
    ...(feedback ? { stamp: (envelope: Envelope) => feedback.stamp(envelope) } : {}),
    ...(p.maxSchedule ? { maxSchedule: p.maxSchedule } : {}),
    accept: async (envelope, message) => {
      // The envelope's JSON is small next to the body; 4 kB covers it and the record header.
      const release = disk.reserve(message.length + 4096);
      try {
        await p.spool.commit(envelope, message);
        release(true);
      } catch (err) {
        release(false);
        if (disk.failed(err)) throw new SluiceError('SPOOL_FULL', `spool full while writing ${envelope.id}`, { cause: err });
        throw err;
      }
      p.enqueue(envelope);
    },
    dropped: p.dropped,
  };
}
