import { SluiceError } from '../errors.js';
import type { Rate } from './types.js';

/**
 * The rate contract both state backends keep (the embedded GcraTable and the Redis
 * script), and that shaping prints: here beside the state interfaces, not in a backend.
 *
 * GCRA (generic cell rate algorithm): one number per bucket, the theoretical arrival
 * time (TAT) of the next token at the emission interval T; a token is granted at `now`
 * when TAT - tolerance <= now, and moves TAT to max(TAT, now) + T.
 *
 * The guarantee a configured "N per period P" must keep: no window of length P (sliding,
 * half-open) holds more than N grants, since that is what a provider counts. For grants
 * t1 < ... < tm inside one window of length W, TAT before tm is at least t1 + (m-1)T and
 * at most tm + tolerance, so (m-1)T < W + tolerance. Hence every window of W holds at
 * most N grants whenever (W + tolerance) / T <= N.
 *
 * W is not P but P + MARGIN (15 ms): the provider counts a message when it arrives, some
 * milliseconds after its token, and that delay varies (a slow round trip, a busy event
 * loop); grants that are N per P + MARGIN arrive N per P as long as it varies less than
 * MARGIN. Then:
 *
 * - `burst` b given: T = (P + MARGIN) / (N - b + 1), tolerance (b - 1)T. b tokens may go
 *   back to back; sustained about N - b + 1 per period.
 * - no burst (the default): tolerance SLACK (15 ms), T = (P + MARGIN + SLACK) / N. The
 *   slack absorbs lateness of the taker (a session that comes back for its token up to
 *   SLACK late loses nothing; with zero tolerance every late millisecond is lost for good),
 *   at a fixed cost: sustained N * P / (P + 30 ms), 97% of N for "N/s", above 99.9% for
 *   "N/m" and "N/h", more than an integer burst of 2 keeps for N below 34 per second.
 *   Periods under 750 ms (tests) scale both down to 2% of P.
 *
 * Time is in integer microseconds (Redis TIME has them; the embedded clock is ms), and T
 * is rounded up to a whole microsecond: the sums stay exact in a double (now is about
 * 2^51 us), so accumulated rounding can never let an N+1st token into the window.
 */
export const SLACK_US = 15_000;
export const MARGIN_US = 15_000;

export interface GcraParams {
  readonly intervalUs: number;
  readonly toleranceUs: number;
  readonly periodUs: number;
}

export function gcraParams(rate: Rate): GcraParams {
  const { count, periodMs, burst } = rate;
  if (!Number.isInteger(count) || count < 1 || !(periodMs > 0)) {
    throw new SluiceError('USAGE', `bad rate ${count}/${periodMs}ms`);
  }
  const periodUs = Math.round(periodMs * 1_000);
  const marginUs = Math.min(MARGIN_US, Math.floor(periodUs / 50));
  if (burst !== undefined) {
    if (!Number.isInteger(burst) || burst < 1 || burst > count) {
      throw new SluiceError('USAGE', `bad burst ${burst} for rate ${count}/${periodMs}ms (1 to ${count})`);
    }
    const intervalUs = Math.ceil((periodUs + marginUs) / (count - burst + 1));
    return { intervalUs, toleranceUs: (burst - 1) * intervalUs, periodUs };
  }
  const toleranceUs = Math.min(SLACK_US, Math.floor(periodUs / 50));
  return { intervalUs: Math.ceil((periodUs + marginUs + toleranceUs) / count), toleranceUs, periodUs };
}
