/**
 * What an operator watches to decide where load goes, measured on this node and carried on
 * its heartbeat (NodeInfo.load) so every node's dashboard and /api/status show every
 * node's: CPU, memory, event-loop lag, free disk in data_dir, connections, queue depth and
 * send rate. CPU and lag cover the time since the previous sample (one heartbeat).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { NodeLoad } from '../state/types.js';

/** Where the numbers come from; the composition root wires process and node state in. */
export interface LoadSources {
  /** User + system CPU time of this process so far, microseconds (process.cpuUsage()). */
  cpuMicros(): number;
  rssBytes(): number;
  /** Wall time in ms (monotonic is best: performance.now()). */
  nowMs(): number;
  diskFreeBytes(): number | null;
  connectionsIn(): number;
  connectionsOut(): number;
  queueDepth(): number;
  sendRate(): number;
}

export class LoadMeter {
  readonly #src: LoadSources;
  #lag: IntervalHistogram | null = null;
  #lastCpu = 0;
  #lastAt = 0;

  constructor(sources: LoadSources) {
    this.#src = sources;
  }

  start(): void {
    this.#lag = monitorEventLoopDelay({ resolution: 10 });
    this.#lag.enable();
    this.#lastCpu = this.#src.cpuMicros();
    this.#lastAt = this.#src.nowMs();
  }

  stop(): void {
    this.#lag?.disable();
    this.#lag = null;
  }

  /** The numbers since the previous sample (or since start). */
  sample(): NodeLoad {
    const s = this.#src;
    const cpu = s.cpuMicros();
    const at = s.nowMs();
    const elapsedMs = at - this.#lastAt;
    const cores = elapsedMs > 0 ? (cpu - this.#lastCpu) / 1000 / elapsedMs : 0;
    this.#lastCpu = cpu;
    this.#lastAt = at;
    // The histogram records nanoseconds; a fresh one (no sample yet) answers NaN or 0.
    const p99 = this.#lag ? this.#lag.percentile(99) / 1e6 : 0;
    this.#lag?.reset();
    const disk = s.diskFreeBytes();
    return {
      v: 1,
      cpu: round(Math.max(0, cores), 3),
      memory_bytes: s.rssBytes(),
      loop_lag_ms: Number.isFinite(p99) ? round(p99, 1) : 0,
      disk_free_bytes: disk === null || !Number.isFinite(disk) ? null : Math.max(0, Math.floor(disk)),
      connections_in: s.connectionsIn(),
      connections_out: s.connectionsOut(),
      queue_depth: s.queueDepth(),
      send_rate: round(s.sendRate(), 2),
    };
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
