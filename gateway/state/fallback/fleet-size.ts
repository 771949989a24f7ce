import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../fs-util.js';
import { SerialQueue } from '../embedded/serial-queue.js';

const fileSchema = z.object({ version: z.literal(1), liveNodes: z.number().int().positive() });

/**
 * How many nodes were live when the registry last answered, kept in fleet.json: a node
 * that restarts while Redis is down still divides its limits by the fleet it last saw.
 */
export class FleetSize {
  readonly #path: string;
  readonly #hint: number;
  readonly #writes = new SerialQueue();
  #seen: number | null = null;

  constructor(dataDir: string, hint = 1) {
    this.#path = join(dataDir, 'fleet.json');
    this.#hint = Math.max(1, Math.floor(hint));
  }

  async load(): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true });
    const raw = await readJsonFile(this.#path).catch(() => undefined);
    const parsed = fileSchema.safeParse(raw);
    if (parsed.success) this.#seen = parsed.data.liveNodes;
  }

  /** Live nodes last seen, or the hint before any were seen; never below 1. */
  get(): number {
    return Math.max(1, this.#seen ?? this.#hint);
  }

  /** A registry that lists no node at all (Redis just restarted, empty) teaches nothing. */
  seen(liveNodes: number): void {
    if (liveNodes < 1 || liveNodes === this.#seen) return;
    const count = liveNodes;
    this.#seen = count;
    const text = JSON.stringify({ version: 1, liveNodes: count });
    // Best effort: losing this file only means falling back to the hint after a restart.
    this.#writes.run(() => writeFileAtomic(this.#path, text)).catch(() => undefined);
  }

  idle(): Promise<void> {
    return this.#writes.idle();
  }
}
