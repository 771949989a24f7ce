/**
 * Queue ids: time-ordered (milliseconds, base 36) plus a per-process counter and random
 * bits, so ids sort by arrival and never collide between nodes or restarts.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../state/types.js';

let counter = 0;
const nodeBits = randomBytes(2).toString('hex').toUpperCase();

export function newQueueId(clock: Clock): string {
  counter = (counter + 1) % 1_679_616;
  return `${clock.now().toString(36).toUpperCase().padStart(9, '0')}${counter.toString(36).toUpperCase().padStart(4, '0')}${nodeBits}`;
}
