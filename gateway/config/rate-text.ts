/**
 * A rate in words, for the operator's views (`sluice route --explain`, `GET
 * /api/providers`, the dashboard): the rate as configured with its burst, and what it
 * keeps (docs/SHAPING.md "What a rate guarantees"). The spacing and the back-to-back
 * count come from gcraParams(), so what is printed is what the limiter grants.
 */
import { formatDuration } from './units.js';
import { gcraParams } from '../state/gcra-params.js';
import type { Rate } from '../state/types.js';

/** "150/s", "500/h, burst 50": as the config writes it, with max_message_burst when set. */
export function formatRate(rate: Rate): string {
  const n = `${rate.count}/${formatDuration(rate.periodMs).replace(/^1(?=[a-z]+$)/, '')}`;
  return rate.burst === undefined ? n : `${n}, burst ${rate.burst}`;
}

/**
 * "at most 150 in any 1s (sliding); 10 back to back, then one every 7.2ms, about 138.9/s
 * sustained". The window bound is the guarantee; the rest is how the limiter spends it.
 */
export function rateGuarantee(rate: Rate): string {
  const { intervalUs, toleranceUs, periodUs } = gcraParams(rate);
  const backToBack = Math.floor(toleranceUs / intervalUs) + 1;
  const unit = formatDuration(rate.periodMs).replace(/^1(?=[a-z]+$)/, '');
  const sustained = Math.round((periodUs / intervalUs) * 10) / 10;
  const spacing = rate.burst === undefined ? `one every ${interval(intervalUs)} (${backToBack} back to back)` : `${rate.burst} back to back, then one every ${interval(intervalUs)}`;
  return `at most ${rate.count} in any ${formatDuration(rate.periodMs)} (sliding); ${spacing}, about ${sustained}/${unit} sustained`;
}

/** An emission interval to three significant digits: "1.03ms", "7.2ms", "103ms", "7.98s", "1.5m". */
function interval(us: number): string {
  const ms = us / 1_000;
  const digits = (x: number) => String(Number(x.toPrecision(3)));
  if (ms < 1_000) return `${digits(ms)}ms`;
  if (ms < 60_000) return `${digits(ms / 1_000)}s`;
  if (ms < 3_600_000) return `${digits(ms / 60_000)}m`;
  return `${digits(ms / 3_600_000)}h`;
}
