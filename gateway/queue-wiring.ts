/**
 * Composition-root wiring of queue control (issue 17): the node's QueueControl, the
 * fleet layer over Redis when [cluster] is set, and what the admin routes need,
 * including a message's history read back from the event logs (queue/message-history.ts).
 */
import type { Config } from './config/schema.js';
import { configPath } from './config/paths.js';
import type { Logger } from './observe/logger.js';
import type { Observer } from './observe/observer.js';
import type { NodeRegistry, Clock } from './state/types.js';
import type { Scheduler } from './queue/scheduler.js';
import { QueueControl } from './queue/queue-control.js';
import { QueueFleet } from './queue/queue-fleet.js';
import { QueueApi } from './queue/queue-api.js';
import { searchHistory } from './queue/message-history.js';
import type { QueueRoutes } from './observe/queue-routes.js';

export interface QueueWiringPorts {
  readonly config: Config;
  readonly currentConfig: () => Config;
  readonly baseDir: string;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly observer: Observer;
  readonly nodes: Pick<NodeRegistry, 'live'>;
}

export async function startQueueControl(p: QueueWiringPorts): Promise<{ routes: QueueRoutes; stop(): Promise<void> }> {
  const { config } = p;
  const local = new QueueControl({ node: config.node.id, scheduler: p.scheduler, clock: p.clock, log: p.log, pools: () => Object.keys(p.currentConfig().pools), publish: (r) => p.observer.sink.publish(r) });
  local.start();
  const file = config.events.file === undefined ? null : configPath(p.baseDir, config.events.file);
  const keep = config.events.keep;
  const fleet = new QueueFleet({
    local,
    log: p.log,
    ...(config.cluster ? { cluster: { redisUrl: config.cluster.redis_url, prefix: config.cluster.key_prefix, nodes: p.nodes } } : {}),
    // Lines still in the event log's buffer are written first: a step just taken shows.
    ...(file !== null ? { history: async (ids: readonly string[]) => (await p.observer.eventLog?.flush(), searchHistory(file, keep, ids)) } : {}),
  });
  await fleet.start();
  return {
    routes: new QueueApi({ fleet, rules: () => local.rules() }),
    stop: async () => {
      local.stop();
      await fleet.stop();
    },
  };
}
