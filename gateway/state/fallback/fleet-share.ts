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
 * Rates: floor(count / nodes) per period when that is at least 1 (and the burst split
 * likewise, at least 1), so the nodes' grants in any window of one period sum to at most
 * count. Below one per node: one per ceil(period * nodes / count) ms, which keeps the
 * fleet's long-run rate but not every window: with count < nodes, nodes that each send
 * one may meet in the same period (the rate counterpart of the one-connection minimum).
 */
export function shareRate(rate: Rate, nodes: number): Rate {
  const fleet = Math.max(1, nodes);
  const count = Math.floor(rate.count / fleet);
  if (count < 1) return { count: 1, periodMs: Math.ceil((rate.periodMs * fleet) / rate.count) };
  if (rate.burst === undefined) return { count, periodMs: rate.periodMs };
  return { count, periodMs: rate.periodMs, burst: Math.min(count, Math.max(1, Math.floor(rate.burst / fleet))) };
}
