import type { Envelope } from '../spool/types.js';

/**
 * What a replica carries (a subset of h14x's PeerFacts, so a PeerFacts is one): the node
 * that accepted the message, its queue id there, its envelope and what is already known.
 */
export interface ReplicaFacts {
  readonly origin: string;
  readonly queueId: string;
  readonly envelope: Envelope;
  readonly attempts: Readonly<Record<string, number>>;
  /** Recipients already final at the origin. */
  readonly done: readonly string[];
  readonly trace?: string | undefined;
}

/** Where the cluster listener puts a replica it received: durable before `keep` resolves (then the 250). */
export interface ReplicaSink {
  keep(facts: ReplicaFacts, body: Buffer): Promise<void>;
}
