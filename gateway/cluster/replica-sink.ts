/**
 * Where the cluster listener puts a replica a peer sends (kind 'replica'): the replica
 * store (replica-store.ts) implements it. `keep` resolves only once the replica is
 * durable; the listener answers 250 after that and not before.
 */
import type { PeerFacts } from './peer-facts.js';

/** What a replica carries and the store keeps: the facts that travelled with it. */
export type ReplicaFacts = Pick<PeerFacts, 'origin' | 'queueId' | 'envelope' | 'attempts' | 'done'> & { readonly trace?: string | undefined };

export interface ReplicaSink {
  keep(facts: PeerFacts, body: Buffer): Promise<void>;
}
