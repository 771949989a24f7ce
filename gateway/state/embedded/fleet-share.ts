import type { Rate } from '../types.js';

/**
 * A node's share of a fleet-wide limit while it cannot reach the shared store
 * (DESIGN.md "State": deliver only within limits that cannot overshoot the fleet's).
 *
 * Connections: floor(limit / nodes), but at least 1, so a source is never frozen
 * outright. The minimum is the one place the fleet could exceed a limit: only when
 * limit < nodes AND more than `limit` nodes use the same key at once. Per-source keys
 * cannot, since a source IP lives on one node; a provider-wide limit smaller than the
 * fleet can, by at most nodes - limit connections.
 */
export function shareLimit(limit: number, nodes: number): number {
  if (limit <= 0) return 0;
  return Math.max(1, Math.floor(limit / Math.max(1, nodes)));
}

/**
 * Rates: floor(count / nodes) per period when that is at least 1; otherwise one per
 * ceil(period * nodes / count) ms, so even "1/s" over 3 nodes sums to at most 1/s and
 * no burst exceeds the fleet's.
 */
export function shareRate(rate: Rate, nodes: number): Rate {
  const fleet = Math.max(1, nodes);
  const count = Math.floor(rate.count / fleet);
  if (count >= 1) return { count, periodMs: rate.periodMs };
  return { count: 1, periodMs: Math.ceil((rate.periodMs * fleet) / rate.count) };
}
