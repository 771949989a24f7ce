/**
 * What a reload changes, for the log and the admin API: "sources.tx3 added",
 * "providers.gmail changed", "listen changed (takes effect after a restart)".
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

/** Sections a running node cannot apply: new sockets, a new identity, other plugins. */
export const RESTART_ONLY = ['node', 'cluster', 'listen', 'tls', 'plugins', 'admin', 'events', 'alerts', 'feedback', 'bounces', 'dkim', 'classify', 'suppression'] as const;

const NAMED = ['sources', 'pools', 'providers', 'warmup'] as const;

export function diffConfig(before: Config, after: Config): { changes: string[]; restartNeeded: string[] } {
  const changes: string[] = [];
  const restartNeeded: string[] = [];
  for (const key of Object.keys({ ...before, ...after }) as (keyof Config)[]) {
    if (key === 'include') continue;
    const a = before[key];
    const b = after[key];
    if (isDeepStrictEqual(a, b)) continue;
    if ((RESTART_ONLY as readonly string[]).includes(key)) {
      restartNeeded.push(key);
      changes.push(`${key} changed (takes effect after a restart)`);
    } else if ((NAMED as readonly string[]).includes(key)) {
      const ra = (a ?? {}) as Record<string, unknown>;
      const rb = (b ?? {}) as Record<string, unknown>;
      for (const name of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
        if (!(name in ra)) changes.push(`${key}.${name} added`);
        else if (!(name in rb)) changes.push(`${key}.${name} removed`);
        else if (!isDeepStrictEqual(ra[name], rb[name])) changes.push(`${key}.${name} changed`);
      }
    } else changes.push(`${key} changed`);
  }
  return { changes, restartNeeded };
}
