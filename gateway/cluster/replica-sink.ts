/**
 * Where the cluster listener puts a replica a peer sends (kind 'replica'): h14r's replica
 * store implements it. `keep` resolves only once the replica is durable; the listener
 * answers 250 after that and not before.
 */
import type { PeerFacts } from './peer-facts.js';

export interface ReplicaSink {
  keep(facts: PeerFacts, body: Buffer): Promise<void>;
}
