/**
 * The seam between a listener and feedback-loop intake ([feedback]): which recipients
 * are feedback addresses, how big a report may be, and who reads it. The listener only
 * routes the transaction here; the composition root decides what a report means.
 */
import type { FeedbackDelivery, FeedbackReply } from '../bounce/feedback-loop.js';

export interface FeedbackSink {
  /** Lower-cased feedback addresses. */
  readonly addresses: ReadonlySet<string>;
  readonly maxSize: number;
  /** Reads one report; resolves to what became of it (replies.ts feedbackReply makes the reply for the end of DATA). */
  receive(message: Buffer, from: FeedbackDelivery): Promise<FeedbackReply>;
}
