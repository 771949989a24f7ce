import { SluiceError } from '../../errors.js';
import type { LeaseClaim } from '../types.js';

/**
 * One claim per key: a key named twice in one acquire would otherwise count its own
 * lease twice. The smaller limit wins, the conservative reading.
 */
export function mergeLeaseClaims(claims: readonly LeaseClaim[]): LeaseClaim[] {
  const byKey = new Map<string, number>();
  for (const claim of claims) {
    if (!Number.isInteger(claim.limit) || claim.limit < 0) {
      throw new SluiceError('USAGE', `bad lease limit ${claim.limit} for ${claim.key}`);
    }
    const known = byKey.get(claim.key);
    byKey.set(claim.key, known === undefined ? claim.limit : Math.min(known, claim.limit));
  }
  return [...byKey].map(([key, limit]) => ({ key, limit }));
}

export function checkTtl(ttlMs: number): void {
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new SluiceError('USAGE', `bad lease ttl ${ttlMs}`);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Warm-up days are UTC `YYYY-MM-DD`: they sort as strings and name Redis keys. */
export function checkDay(day: string): void {
  if (!DAY.test(day)) throw new SluiceError('USAGE', `bad warm-up day "${day}" (want YYYY-MM-DD)`);
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
