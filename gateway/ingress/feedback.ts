/**
 * The seam between a listener and the intakes that read mail instead of relaying it
 * ([feedback] addresses, the [bounces] domain): which recipients are theirs, how big a
 * report may be, and who reads it. The listener only
 * routes the transaction here; the composition root decides what a report means.
 */
import type { FeedbackDelivery, FeedbackReply } from '../bounce/feedback-loop.js';

export interface FeedbackSink {
  /** True for an address this sink reads mail for (a feedback address, the bounce domain). */
  takes(address: string): boolean;
  readonly maxSize: number;
  /** Reads one report; resolves to what became of it (replies.ts feedbackReply makes the reply for the end of DATA). */
  receive(message: Buffer, from: FeedbackDelivery): Promise<FeedbackReply>;
}
