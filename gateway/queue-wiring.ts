/**
 * Composition-root wiring of queue control (issue 17): the node's QueueControl, the
 * fleet layer over Redis when [cluster] is set, and what the admin routes need,
 * including a message's history read back from this node's event log.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Config } from './config/schema.js';
import { configPath } from './config/paths.js';
import type { Logger } from './observe/logger.js';
import type { Observer } from './observe/observer.js';
import type { NodeRegistry, Clock } from './state/types.js';
import type { Scheduler } from './queue/scheduler.js';
import { QueueControl } from './queue/queue-control.js';
import { QueueFleet } from './queue/queue-fleet.js';
import { QueueApi } from './queue/queue-api.js';
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
  const fleet = new QueueFleet({ local, log: p.log, ...(config.cluster ? { cluster: { redisUrl: config.cluster.redis_url, prefix: config.cluster.key_prefix, nodes: p.nodes } } : {}) });
  await fleet.start();
  const file = config.events.file === undefined ? null : configPath(p.baseDir, config.events.file);
  const keep = config.events.keep;
  return {
    routes: new QueueApi({ fleet, node: config.node.id, rules: () => local.rules(), history: (id) => (file === null ? Promise.resolve([]) : history(file, keep, id)) }),
    stop: async () => {
      local.stop();
      await fleet.stop();
    },
  };
}

/** The event-log lines of one queue id, oldest file first (the rotated ones, then the live one). */
async function history(file: string, keep: number, id: string): Promise<unknown[]> {
  const files = [...Array.from({ length: keep }, (_, i) => `${file}.${keep - i}`), file];
  const out: unknown[] = [];
  const needle = `"queue_id":${JSON.stringify(id)}`;
  for (const f of files) {
    try {
      const lines = createInterface({ input: createReadStream(f, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.includes(needle)) continue;
        try {
          out.push(JSON.parse(line));
        } catch {
          // a torn last line: skipped
        }
      }
    } catch {
      // a rotated file that does not exist (yet)
    }
  }
  return out;
}
